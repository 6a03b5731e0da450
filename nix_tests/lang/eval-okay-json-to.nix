# toJSON: scalars, escaping, floats as C++ Nix 2.8 prints them, sets
# (sorted keys; __toString and outPath), nesting.
builtins.toJSON {
  a = 123;
  b = -456;
  c = "foo\n\"bar\"\r\t\\/é\${x}";
  d = true;
  e = false;
  f = null;
  g = [ 1 2 [ ] { } [ [ ] ] ];
  h = { "foo\nbar" = { }; "" = 1; A = 2; };
  floats = [ 1.44 (0.1 + 0.2) 1.0e20 123456789.0 1.0 0.0 1.0e-7 3.0e5 100000.0 1000000.0 0.0001 0.00001 ];
  negzero = builtins.fromJSON "-0.0";
  control = builtins.fromJSON "\"\\u0001\\u001f\\u007f\\b\\f\"";
  ints = [ 9223372036854775807 (-9223372036854775807 - 1) ];
  viaToString = { __toString = self: self.a; a = "foo"; outPath = throw "unused"; };
  viaToStringNested = { __toString = self: { outPath = "deep"; }; };
  viaOutPath = { outPath = 42; };
  viaOutPathNested = { outPath = { outPath = [ 1 { a = 2; } ]; }; };
  drv = { type = "derivation"; outPath = "/nix/store/x"; name = "x"; };
}
