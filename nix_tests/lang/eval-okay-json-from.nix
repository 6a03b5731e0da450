# fromJSON: integers and floats as C++ Nix, escapes, surrogates, keys
# (the last of a repeated key wins), whitespace, byte order mark.
[
  (builtins.fromJSON "[1, 1.0, -0, -0.0, 1e2, 1E2, 1.5e-3, 0.1, 9223372036854775807, -9223372036854775808, -9223372036854775809, 18446744073709551616, 1e-400, 5e-324]")
  (builtins.fromJSON ''{"a":1,"a":2,"b":{"c":[{},[],null,true,false]}}'')
  (builtins.fromJSON ''"\"\\\/\b\f\n\r\t \u00e9 \u2192 \ud83d\ude00 é"'')
  (builtins.fromJSON " \n\t\r[ ]\n")
  (builtins.fromJSON "\"\"")
  (builtins.fromJSON "{}")
  (builtins.fromJSON "0")
  (builtins.fromJSON "-12")
  (builtins.fromJSON "\"x\"")
  (builtins.fromJSON (builtins.toJSON { a = [ 1 "b" { c = null; } ]; }))
]
