# oxnix's `derivation`. builtins.derivationStrict computes the store paths;
# this wrapper makes the set users see: one set per output, all sharing the
# original attributes (`drvAttrs`), `drvPath` and the list `all`, and the
# first output's set is the result.
drvAttrs@{ outputs ? [ "out" ], ... }:
let
  strict = builtins.derivationStrict drvAttrs;
  forOutput = outputName: {
    name = outputName;
    value = common // {
      outPath = builtins.getAttr outputName strict;
      drvPath = strict.drvPath;
      type = "derivation";
      inherit outputName;
    };
  };
  perOutput = map forOutput outputs;
  common = drvAttrs // builtins.listToAttrs perOutput // {
    all = map (o: o.value) perOutput;
    inherit drvAttrs;
  };
in
(builtins.head perOutput).value
