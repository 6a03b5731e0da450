# Attributes that fail in different ways when evaluated.
{
  ok = 1;
  thrown = throw "thrown here";
  aborted = abort "aborted here";
  assertion = assert 1 == 2; 1;
  missing = { a = 1; }.nope;
  typeErr = 1 + "a";
  nested = { inner = builtins.head [ ]; };
  traced = builtins.trace "a trace message" 7;
  deep = let f = x: if x == 0 then throw "at the bottom" else f (x - 1); in f 3;
  lazy = { fine = 1; bad = throw "lazy bad"; };
}
