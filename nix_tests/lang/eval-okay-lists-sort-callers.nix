# builtins.sort with comparators of every calling shape (curried lambda,
# a lambda returning a lambda, a partial builtin, lessThan itself, a thunk
# result), non-strict and inconsistent comparators, pending elements, and
# a failed sort retried under tryEval.
let
  l = builtins.genList (i: (i * 7919) - (i * 7919) / 97 * 97) 300;
  sets = map (p: { priority = p; v = p * 2; }) l;
  byPrio = a: b: (a.priority or 1000) < (b.priority or 1000);
  nested = a: let x = a; in b: x < b;
  lazyResult = a: b: let r = a < b; in r;
  bad = builtins.sort (a: b: if a == 42 then throw "no" else a < b) l;
in {
  curried = builtins.sort (a: b: a < b) l;
  nonStrict = builtins.sort (a: b: a <= b) l;
  reversed = builtins.sort (a: b: a > b) l;
  always = builtins.sort (a: b: true) [ 5 3 8 1 9 2 7 ];
  never = builtins.sort (a: b: false) [ 5 3 8 1 9 2 7 ];
  inconsistent = builtins.sort (a: b: (a * 31 + b) / 2 * 2 == a * 31 + b) l;
  nested = builtins.sort nested l;
  partial = builtins.sort (builtins.lessThan) l;
  partialLambda = builtins.sort (a: builtins.lessThan a) l;
  lazy = builtins.sort lazyResult l;
  bySet = map (s: s.v) (builtins.sort byPrio sets);
  strings = builtins.sort (a: b: a < b) [ "b" "a" "ab" "" "ba" ];
  one = builtins.sort (a: b: throw "never called") [ 1 ];
  empty = builtins.sort (a: b: throw "never called") [ ];
  failed = builtins.tryEval (builtins.deepSeq bad bad);
  failedAgain = builtins.tryEval (builtins.deepSeq bad bad);
  pendingElems = builtins.sort (a: b: a < b) (builtins.genList (i: 10 - i) 10);
}
