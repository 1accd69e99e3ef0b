#!/bin/sh
# hbd lab STONITH device for the namespaces @PREFIX@-*: written by hbd_lab.fence_plugin,
# removed with the lab. "reset NODE" powers that lab node off.
case "$1" in
  gethosts) echo node0 node1 node2 ;;
  reset|off) exec @PYTHON@ -m hbd_lab.fence_plugin @PREFIX@ "$2" ;;
  on|status) exit 0 ;;
  getconfignames) exit 0 ;;
  getinfo-devid|getinfo-devname) echo "hbd-lab" ;;
  getinfo-devdescr) echo "Powers off a node of hbd's namespace lab" ;;
  getinfo-devurl) echo "file:///" ;;
  getinfo-xml) echo "<parameters></parameters>" ;;
  *) exit 1 ;;
esac
