"""Python 2 helpers heartbeat's CTS still calls, restored at interpreter start.

Debian's CTS went through 2to3 only halfway: it still calls `string.find`,
`string.lower`, `string.join`... and names `types.IntType`. This module is
found first on CTS's PYTHONPATH (lab/hbd_lab/cts/compat) and adds them; it
changes nothing that exists.
"""

import string
import types

_STRING = {
    "find": lambda s, sub, *a: s.find(sub, *a),
    "rfind": lambda s, sub, *a: s.rfind(sub, *a),
    "index": lambda s, sub, *a: s.index(sub, *a),
    "lower": lambda s: s.lower(),
    "upper": lambda s: s.upper(),
    "strip": lambda s, chars=None: s.strip(chars),
    "lstrip": lambda s, chars=None: s.lstrip(chars),
    "rstrip": lambda s, chars=None: s.rstrip(chars),
    "split": lambda s, sep=None, maxsplit=-1: s.split(sep, maxsplit),
    "join": lambda words, sep=" ": sep.join(words),
    "replace": lambda s, old, new, *a: s.replace(old, new, *a),
    "atoi": lambda s, base=10: int(s, base),
    "atof": float,
    "count": lambda s, sub, *a: s.count(sub, *a),
}
_TYPES = {"IntType": int, "LongType": int, "StringType": str, "FloatType": float,
          "ListType": list, "TupleType": tuple, "DictType": dict, "NoneType": type(None)}

for _name, _value in _STRING.items():
    if not hasattr(string, _name):
        setattr(string, _name, _value)
for _name, _value in _TYPES.items():
    if not hasattr(types, _name):
        setattr(types, _name, _value)
