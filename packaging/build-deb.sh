#!/usr/bin/env bash
# Build the Debian package: build/hbd_VERSION-1_ARCH.deb (make deb).
#
# A staged virtual environment under /opt/hbd, made with Debian's own
# python3.11 (the package depends on it), holding hbd's wheel and exactly the
# pinned dependencies of packaging/requirements-deb.txt; packed by dpkg-deb
# with the links in /usr, the unit, man pages and completion generated from
# the argparse parsers (packaging/gen_docs.py), the examples, logrotate and
# the maintainer scripts of packaging/debian/. No root needed (dpkg-deb
# --root-owner-group); as root on a fresh machine it installs what it lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=/usr/bin/python3.11
OUT=$ROOT/build/deb
STAGE=$OUT/root
VENV=/opt/hbd

need_debs=()
[ -x "$PY" ] || need_debs+=(python3.11)
"$PY" -c 'import ensurepip, venv' 2>/dev/null || need_debs+=(python3.11-venv)
command -v dpkg-deb >/dev/null || need_debs+=(dpkg)
if [ ${#need_debs[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${need_debs[@]}" >/dev/null
    else
        echo "build-deb: install ${need_debs[*]} first (apt-get install ${need_debs[*]})" >&2
        exit 1
    fi
fi

VERSION=$("$PY" -c 'import re,sys; print(re.search(r"__version__ = \"([^\"]+)\"", open("hbd/__init__.py").read())[1])')
DEBVERSION=$VERSION-1
ARCH=$(dpkg --print-architecture)
PIP=(--disable-pip-version-check -q)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

rm -rf "$OUT"
mkdir -p "$OUT/wheels" "$STAGE"

echo "build-deb: build tools and hbd's wheel"
"$PY" -m venv "$OUT/tools"
"$OUT/tools/bin/pip" install "${PIP[@]}" -r packaging/requirements-build.txt \
    -r packaging/requirements-deb.txt
"$OUT/tools/bin/pip" wheel "${PIP[@]}" --no-deps -w "$OUT/wheels" .
WHEEL=$(ls "$OUT"/wheels/hbd-"$VERSION"-*.whl)
"$OUT/tools/bin/pip" install "${PIP[@]}" --no-deps "$WHEEL"

echo "build-deb: the venv for $VENV"
"$PY" -m venv "$STAGE$VENV"
"$STAGE$VENV/bin/pip" install "${PIP[@]}" --no-compile --no-deps \
    -r packaging/requirements-deb.txt "$WHEEL"
"$STAGE$VENV/bin/pip" check
"$STAGE$VENV/bin/pip" uninstall "${PIP[@]}" -y pip setuptools
# the venv was made at $STAGE$VENV: make it the one at $VENV
grep -rlI --null "$STAGE$VENV" "$STAGE$VENV/bin" "$STAGE$VENV/pyvenv.cfg" \
    | xargs -0 -r sed -i "s|$STAGE$VENV|$VENV|g"
find "$STAGE$VENV" -name direct_url.json -delete
find "$STAGE$VENV" -name __pycache__ -prune -exec rm -rf {} +
"$STAGE$VENV/bin/python" -m compileall -q -j 0 --invalidation-mode checked-hash \
    -s "$STAGE" -p / "$STAGE$VENV/lib"

echo "build-deb: commands, unit, man pages, completion, docs"
mkdir -p "$STAGE/usr/sbin" "$STAGE/usr/bin" "$STAGE/usr/share/heartbeat"
ln -s "$VENV/bin/hbd" "$STAGE/usr/sbin/hbd"
for tool in hbctl cl_status; do ln -s "$VENV/bin/$tool" "$STAGE/usr/bin/$tool"; done
for tool in hb_standby hb_takeover; do
    ln -s "$VENV/bin/$tool" "$STAGE/usr/share/heartbeat/$tool"
done
install -D -m 0644 systemd/hbd.service "$STAGE/lib/systemd/system/hbd.service"
sed -i -e 's|^ExecStart=/usr/bin/env hbd |ExecStart=/usr/sbin/hbd |' \
    -e 's|^Documentation=.*|Documentation=man:hbd(8) man:hbd.cf(5) file:/usr/share/doc/hbd/README.md|' \
    "$STAGE/lib/systemd/system/hbd.service"
grep -q '^ExecStart=/usr/sbin/hbd ' "$STAGE/lib/systemd/system/hbd.service"

"$OUT/tools/bin/python" packaging/gen_docs.py "$OUT/gen" >/dev/null
for page in "$OUT"/gen/man/man*/*; do
    section=$(basename "$(dirname "$page")")
    install -D -m 0644 "$page" "$STAGE/usr/share/man/$section/$(basename "$page")"
    gzip -9n "$STAGE/usr/share/man/$section/$(basename "$page")"
done
install -D -m 0644 -t "$STAGE/usr/share/bash-completion/completions" "$OUT"/gen/completions/bash/*
install -D -m 0644 -t "$STAGE/usr/share/zsh/vendor-completions" "$OUT"/gen/completions/zsh/*

DOC=$STAGE/usr/share/doc/hbd
install -D -m 0644 README.md "$DOC/README.md"
install -D -m 0644 packaging/debian/copyright "$DOC/copyright"
for doc in docs/*.md; do install -m 0644 "$doc" "$DOC/"; done
mkdir -p "$DOC/examples"
cp -r conf/. "$DOC/examples/"
find "$DOC/examples" -type d -exec chmod 0755 {} + ; find "$DOC/examples" -type f -exec chmod 0644 {} +
find "$DOC/examples" -path '*/resource.d/*' -type f -exec chmod 0755 {} +
find "$DOC/examples" -name authkeys -exec chmod 0600 {} +
printf 'hbd (%s) stable; urgency=medium\n\n  * Built from the hbd repository (%s).\n\n -- hbd developers <root@localhost>  %s\n' \
    "$DEBVERSION" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" | gzip -9n > "$DOC/changelog.Debian.gz"

install -D -m 0644 packaging/debian/logrotate "$STAGE/etc/logrotate.d/hbd"
mkdir -p "$STAGE/etc/ha.d"

echo "build-deb: control files"
mkdir -p "$STAGE/DEBIAN"
for script in preinst postinst prerm postrm; do
    install -m 0755 "packaging/debian/$script" "$STAGE/DEBIAN/$script"
done
echo /etc/logrotate.d/hbd > "$STAGE/DEBIAN/conffiles"
# the newest glibc symbol version any wheel (manylinux_2_X) needs
GLIBC=$(find "$STAGE$VENV" -name WHEEL -path '*dist-info*' -exec grep -ho 'manylinux_2_[0-9]*' {} + \
        | sed 's/manylinux_2_//' | sort -n | tail -1)
SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$DEBVERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" \
    -e "s/@GLIBC@/2.${GLIBC:-17}/" packaging/debian/control.in > "$STAGE/DEBIAN/control"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print0 \
    | sort -z | xargs -0 md5sum | sed 's|  \./|  |' > DEBIAN/md5sums)
find "$STAGE" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

DEB=$ROOT/build/hbd_${DEBVERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >/dev/null
echo "build-deb: $DEB"
