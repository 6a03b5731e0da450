# A small library in the style of nixpkgs' `lib`, written from scratch for the
# real-world evaluation benchmark (benches/realworld). It is not nixpkgs' code:
# the functions have the same names and, in spirit, the same behaviour, so
# that modules.nix and packages.nix read like ordinary NixOS/nixpkgs code.
let
  inherit (builtins)
    all any attrNames attrValues catAttrs concatLists concatMap
    concatStringsSep elem elemAt filter foldl' functionArgs genList
    genericClosure head intersectAttrs isAttrs isBool isFunction isInt
    isList isString length listToAttrs mapAttrs removeAttrs replaceStrings
    sort stringLength substring tail typeOf;

  lib = {
    # ------------------------------------------------------------------
    # trivial
    id = x: x;
    const = x: _: x;
    flip = f: a: b: f b a;
    pipe = val: fns: foldl' (x: f: f x) val fns;
    min = a: b: if a < b then a else b;
    max = a: b: if a > b then a else b;
    mod = a: b: a - (a / b) * b;
    boolToString = b: if b then "true" else "false";
    inherit foldl' all any elem filter head tail length attrNames attrValues concatLists concatMap genList;

    # ------------------------------------------------------------------
    # fixed points and extensions
    fix = f: let x = f x; in x;
    fix' = f: let x = f x // { __unfix__ = f; }; in x;
    extends = f: rattrs: self: let super = rattrs self; in super // f self super;
    composeExtensions = f: g: final: prev:
      let
        fApplied = f final prev;
        prev' = prev // fApplied;
      in fApplied // g final prev';
    composeManyExtensions = lib.foldr lib.composeExtensions (final: prev: { });
    makeExtensible = lib.makeExtensibleWithCustomName "extend";
    makeExtensibleWithCustomName = extenderName: rattrs:
      lib.fix' (self: rattrs self // {
        ${extenderName} = f: lib.makeExtensibleWithCustomName extenderName (lib.extends f rattrs);
      });

    # ------------------------------------------------------------------
    # lists (folds are foldl'-based: no deep recursion on long lists)
    reverseList = xs: let l = length xs; in genList (n: elemAt xs (l - n - 1)) l;
    foldr = op: nul: list: foldl' (acc: x: op x acc) nul (lib.reverseList list);
    imap0 = f: list: genList (n: f n (elemAt list n)) (length list);
    imap1 = f: list: genList (n: f (n + 1) (elemAt list n)) (length list);
    flatten = x: if isList x then concatMap lib.flatten x else [ x ];
    range = first: last: if first > last then [ ] else genList (n: first + n) (last - first + 1);
    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    toList = x: if isList x then x else [ x ];
    count = pred: foldl' (c: x: if pred x then c + 1 else c) 0;
    sum = foldl' (a: b: a + b) 0;
    findFirst = pred: default: list:
      let found = filter pred list; in if found == [ ] then default else head found;
    last = list: elemAt list (length list - 1);
    init = list: lib.take (length list - 1) list;
    take = n: list: genList (i: elemAt list i) (lib.min n (length list));
    drop = n: list:
      let len = length list; in genList (i: elemAt list (i + n)) (if n >= len then 0 else len - n);
    unique = foldl' (acc: e: if elem e acc then acc else acc ++ [ e ]) [ ];
    uniqueStrings = list: attrNames (listToAttrs (map (n: lib.nameValuePair n null) list));
    zipListsWith = f: fst: snd:
      genList (n: f (elemAt fst n) (elemAt snd n)) (lib.min (length fst) (length snd));
    groupBy' = f: list:
      foldl' (r: e: let k = f e; in r // { ${k} = (r.${k} or [ ]) ++ [ e ]; }) { } list;
    sortOn = f: list:
      map (p: p.v) (sort (a: b: a.k < b.k) (map (v: { k = f v; inherit v; }) list));

    # ------------------------------------------------------------------
    # attribute sets
    nameValuePair = name: value: { inherit name value; };
    mapAttrs' = f: set: listToAttrs (map (attr: f attr set.${attr}) (attrNames set));
    mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (attrNames attrs);
    filterAttrs = pred: set:
      listToAttrs (concatMap
        (name: let v = set.${name}; in if pred name v then [ (lib.nameValuePair name v) ] else [ ])
        (attrNames set));
    genAttrs = names: f: listToAttrs (map (n: lib.nameValuePair n (f n)) names);
    attrByPath = attrPath: default: set:
      let
        go = path: s:
          if path == [ ] then s
          else if isAttrs s && s ? ${head path} then go (tail path) s.${head path}
          else default;
      in go attrPath set;
    setAttrByPath = attrPath: value: lib.foldr (n: acc: { ${n} = acc; }) value attrPath;
    getAttrFromPath = attrPath: set:
      lib.attrByPath attrPath (throw "cannot find attribute `${concatStringsSep "." attrPath}'") set;
    zipAttrsWithNames = names: f: sets:
      listToAttrs (map (name: { inherit name; value = f name (catAttrs name sets); }) names);
    zipAttrsWith = builtins.zipAttrsWith or
      (f: sets: lib.zipAttrsWithNames (lib.uniqueStrings (concatMap attrNames sets)) f sets);
    zipAttrs = lib.zipAttrsWith (name: values: values);
    recursiveUpdateUntil = pred: lhs: rhs:
      let
        f = attrPath: lib.zipAttrsWith (n: values:
          let here = attrPath ++ [ n ]; in
          if length values == 1 || pred here (elemAt values 1) (head values)
          then head values
          else f here values);
      in f [ ] [ rhs lhs ];
    recursiveUpdate = lib.recursiveUpdateUntil (path: lhs: rhs: !(isAttrs lhs && isAttrs rhs));
    optionalAttrs = cond: as: if cond then as else { };
    collect = pred: attrs:
      if pred attrs then [ attrs ]
      else if isAttrs attrs then concatMap (lib.collect pred) (attrValues attrs)
      else [ ];
    mapAttrsRecursiveCond = cond: f: set:
      let
        recurse = path: mapAttrs (name: value:
          if isAttrs value && cond value then recurse (path ++ [ name ]) value
          else f (path ++ [ name ]) value);
      in recurse [ ] set;
    isDerivation = value: value.type or null == "derivation";

    # ------------------------------------------------------------------
    # strings
    concatStrings = concatStringsSep "";
    concatMapStrings = f: list: lib.concatStrings (map f list);
    inherit concatStringsSep;
    concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
    concatImapStringsSep = sep: f: list: concatStringsSep sep (lib.imap1 f list);
    optionalString = cond: string: if cond then string else "";
    hasPrefix = pref: str: substring 0 (stringLength pref) str == pref;
    hasSuffix = suffix: content:
      let
        lenC = stringLength content;
        lenS = stringLength suffix;
      in lenC >= lenS && substring (lenC - lenS) lenC content == suffix;
    removePrefix = pref: str:
      if lib.hasPrefix pref str then substring (stringLength pref) (stringLength str) str else str;
    stringToCharacters = s: genList (p: substring p 1 s) (stringLength s);
    escape = list: replaceStrings list (map (c: "\\${c}") list);
    escapeRegex = lib.escape (lib.stringToCharacters "\\[{()^$?*+|.");
    splitString = sep: s: filter isString (builtins.split (lib.escapeRegex sep) s);
    lowerChars = lib.stringToCharacters "abcdefghijklmnopqrstuvwxyz";
    upperChars = lib.stringToCharacters "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    toUpper = replaceStrings lib.lowerChars lib.upperChars;
    toLower = replaceStrings lib.upperChars lib.lowerChars;
    fixedWidthString = width: filler: str:
      let strw = stringLength str; in
      assert strw <= width;
      if strw == width then str else filler + lib.fixedWidthString (width - 1) filler str;
    fixedWidthNumber = width: n: lib.fixedWidthString width "0" (toString n);
    escapeShellArg = arg: "'${replaceStrings [ "'" ] [ "'\\''" ] (toString arg)}'";
    escapeShellArgs = lib.concatMapStringsSep " " lib.escapeShellArg;
    versionOlder = v1: v2: builtins.compareVersions v2 v1 == 1;
    versionAtLeast = v1: v2: !(lib.versionOlder v1 v2);
    getName = x: (builtins.parseDrvName (x.name or x)).name;
    getVersion = x: (builtins.parseDrvName (x.name or x)).version;
    makeBinPath = lib.concatMapStringsSep ":" (p: "${p}/bin");
    makeSearchPath = sub: lib.concatMapStringsSep ":" (p: "${p}/${sub}");

    # ------------------------------------------------------------------
    # customisation
    makeOverridable = f: origArgs:
      let
        result = f origArgs;
        overrideWith = newArgs: origArgs // (if isFunction newArgs then newArgs origArgs else newArgs);
        # keep `.override` working on the result of `.overrideAttrs`
        overrideResult = g: lib.makeOverridable (args: g (f args)) origArgs;
      in
      if isAttrs result then
        result // {
          override = newArgs: lib.makeOverridable f (overrideWith newArgs);
          ${if result ? overrideAttrs then "overrideAttrs" else null} =
            fdrv: overrideResult (x: x.overrideAttrs fdrv);
        }
      else if isFunction result then {
        __functor = self: result;
        override = newArgs: lib.makeOverridable f (overrideWith newArgs);
      }
      else result;

    callPackageWith = autoArgs: fn: args:
      let
        f = if isFunction fn then fn else import fn;
        fargs = functionArgs f;
        allArgs = intersectAttrs fargs autoArgs // args;
        missing = attrNames (lib.filterAttrs (name: hasDefault: !hasDefault)
          (removeAttrs fargs (attrNames allArgs)));
      in
      if missing == [ ] then lib.makeOverridable f allArgs
      else throw "callPackage: function called without required argument `${head missing}'";

    callPackagesWith = autoArgs: fn: args:
      let
        f = if isFunction fn then fn else import fn;
        auto = intersectAttrs (functionArgs f) autoArgs;
        pkgs = f (auto // args);
        mkAttrOverridable = name: _: lib.makeOverridable (newArgs: (f newArgs).${name}) (auto // args);
      in mapAttrs mkAttrOverridable pkgs;

    # A package scope: a fixed point with its own callPackage, extensible.
    makeScope = newScope: f:
      let
        self = f self // {
          newScope = scope: newScope (self // scope);
          callPackage = self.newScope { };
          overrideScope = g: lib.makeScope newScope (lib.extends g f);
          packages = f;
        };
      in self;

    # ------------------------------------------------------------------
    # module system
    mkOption = { type ? lib.types.unspecified, ... }@attrs:
      attrs // { _type = "option"; inherit type; };
    mkEnableOption = name: lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Whether to enable ${name}.";
    };
    isOption = x: isAttrs x && x._type or null == "option";
    isType = t: x: isAttrs x && x._type or null == t;

    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkMerge = contents: { _type = "merge"; inherit contents; };
    mkOverride = priority: content: { _type = "override"; inherit priority content; };
    mkOptionDefault = lib.mkOverride 1500;
    mkDefault = lib.mkOverride 1000;
    mkForce = lib.mkOverride 50;
    mkVMOverride = lib.mkOverride 10;
    defaultOverridePriority = 100;
    mkOrder = priority: content: { _type = "order"; inherit priority content; };
    mkBefore = lib.mkOrder 500;
    mkAfter = lib.mkOrder 1500;
    defaultOrderPriority = 1000;

    showOption = parts: concatStringsSep "." (map
      (p: if builtins.match "[a-zA-Z_][a-zA-Z0-9_'-]*" p != null then p else "\"${p}\"")
      parts);
    showValue = v:
      if isString v then "\"${v}\""
      else if isInt v then toString v
      else if isBool v then lib.boolToString v
      else if v == null then "null"
      else if isList v then "[ ${lib.concatMapStrings (x: "${lib.showValue x} ") v}]"
      else if lib.isDerivation v then "<derivation ${v.name or "?"}>"
      else if isAttrs v then "{ ${lib.concatMapStrings (n: "${n} = ${lib.showValue v.${n}}; ") (attrNames v)}}"
      else "<${typeOf v}>";
    showDefs = defs: lib.concatMapStrings (def: "\n- In `${def.file}': ${lib.showValue def.value}") defs;
    showFiles = defs: lib.concatMapStringsSep ", " (def: "`${def.file}'") defs;

    mkOptionType =
      { name
      , description ? name
      , check ? (x: true)
      , merge ? lib.mergeDefaultOption
      , getSubOptions ? (prefix: { })
      , nestedTypes ? { }
      }: {
        _type = "option-type";
        inherit name description check merge getSubOptions nestedTypes;
      };

    mergeDefaultOption = loc: defs:
      let list = map (d: d.value) defs; in
      if length list == 1 then head list
      else if all isList list then concatLists list
      else if all isAttrs list then foldl' (a: b: a // b) { } list
      else if all isBool list then any lib.id list
      else if all isString list then lib.concatStrings list
      else if all isInt list && all (x: x == head list) list then head list
      else throw "Cannot merge definitions of `${lib.showOption loc}'. Definition values:${lib.showDefs defs}";

    mergeEqualOption = loc: defs:
      if defs == [ ] then abort "mergeEqualOption: no definitions"
      else if length defs == 1 then (head defs).value
      else (foldl'
        (first: def:
          if def.value != first.value then
            throw "The option `${lib.showOption loc}' has conflicting definition values:${lib.showDefs [ first def ]}"
          else first)
        (head defs)
        (tail defs)).value;

    mergeOneOption = loc: defs:
      if length defs == 1 then (head defs).value
      else throw "The option `${lib.showOption loc}' is defined multiple times, in ${lib.showFiles defs}.";

    types = let t = lib.types; in {
      unspecified = lib.mkOptionType { name = "unspecified"; };
      bool = lib.mkOptionType {
        name = "bool";
        description = "boolean";
        check = isBool;
        merge = lib.mergeEqualOption;
      };
      int = lib.mkOptionType {
        name = "int";
        description = "signed integer";
        check = isInt;
        merge = lib.mergeEqualOption;
      };
      intBetween = lo: hi: t.addCheck t.int (x: x >= lo && x <= hi)
        // { description = "integer between ${toString lo} and ${toString hi} (both inclusive)"; };
      port = t.intBetween 0 65535 // { name = "port"; };
      str = lib.mkOptionType {
        name = "str";
        description = "string";
        check = isString;
        merge = lib.mergeEqualOption;
      };
      lines = lib.mkOptionType {
        name = "lines";
        description = "strings concatenated with \"\\n\"";
        check = isString;
        merge = loc: defs: concatStringsSep "\n" (map (d: d.value) defs);
      };
      attrs = lib.mkOptionType {
        name = "attrs";
        description = "attribute set";
        check = isAttrs;
        merge = loc: foldl' (res: def: res // def.value) { };
      };
      listOf = elemType: lib.mkOptionType {
        name = "listOf";
        description = "list of ${elemType.description}";
        check = isList;
        merge = loc: defs:
          map (x: x.value) (filter (x: x ? value) (concatLists (lib.imap1
            (n: def: lib.imap1
              (m: v: (lib.mergeDefinitions
                (loc ++ [ "[definition ${toString n}-entry ${toString m}]" ])
                elemType
                [{ inherit (def) file; value = v; }]).optionalValue)
              def.value)
            defs)));
        getSubOptions = prefix: elemType.getSubOptions (prefix ++ [ "*" ]);
        nestedTypes.elemType = elemType;
      };
      attrsOf = elemType: lib.mkOptionType {
        name = "attrsOf";
        description = "attribute set of ${elemType.description}";
        check = isAttrs;
        merge = loc: defs:
          mapAttrs (n: v: v.value) (lib.filterAttrs (n: v: v ? value) (lib.zipAttrsWith
            (name: defs: (lib.mergeDefinitions (loc ++ [ name ]) elemType defs).optionalValue)
            (map (def: mapAttrs (n: v: { inherit (def) file; value = v; }) def.value) defs)));
        getSubOptions = prefix: elemType.getSubOptions (prefix ++ [ "<name>" ]);
        nestedTypes.elemType = elemType;
      };
      submoduleWith = { modules, specialArgs ? { } }: lib.mkOptionType {
        name = "submodule";
        description = "submodule";
        check = x: isAttrs x || isFunction x;
        merge = loc: defs: (lib.evalModules {
          modules = modules ++ map (def: { _file = def.file; imports = [ def.value ]; }) defs;
          specialArgs = specialArgs // { name = lib.last loc; };
          prefix = loc;
        }).config;
        getSubOptions = prefix: (lib.evalModules {
          inherit modules prefix;
          specialArgs = specialArgs // { name = "<name>"; };
        }).options;
        nestedTypes.modules = modules;
      };
      submodule = modules: t.submoduleWith { modules = lib.toList modules; };
      enum = values: lib.mkOptionType {
        name = "enum";
        description = "one of ${lib.concatMapStringsSep ", " lib.showValue values}";
        check = x: elem x values;
        merge = lib.mergeEqualOption;
      };
      nullOr = elemType: lib.mkOptionType {
        name = "nullOr";
        description = "null or ${elemType.description}";
        check = x: x == null || elemType.check x;
        merge = loc: defs:
          let nrNulls = lib.count (def: def.value == null) defs; in
          if nrNulls == length defs then null
          else if nrNulls != 0 then
            throw "The option `${lib.showOption loc}' is defined both null and not null, in ${lib.showFiles defs}."
          else elemType.merge loc defs;
        getSubOptions = elemType.getSubOptions;
        nestedTypes.elemType = elemType;
      };
      either = t1: t2: lib.mkOptionType {
        name = "either";
        description = "${t1.description} or ${t2.description}";
        check = x: t1.check x || t2.check x;
        merge = loc: defs:
          let defList = map (d: d.value) defs; in
          if all t1.check defList then t1.merge loc defs
          else if all t2.check defList then t2.merge loc defs
          else lib.mergeOneOption loc defs;
        nestedTypes = { left = t1; right = t2; };
      };
      oneOf = ts: foldl' t.either (head ts) (tail ts);
      addCheck = elemType: check: elemType // { check = x: elemType.check x && check x; };
    };

    # mkIf / mkMerge: evaluate the conditions of one option definition.
    dischargeProperties = loc: def:
      if lib.isType "merge" def then concatMap (lib.dischargeProperties loc) def.contents
      else if lib.isType "if" def then
        if isBool def.condition then
          (if def.condition then lib.dischargeProperties loc def.content else [ ])
        else throw "mkIf called with a non-Boolean condition at `${lib.showOption loc}'"
      else [ def ];

    # mkIf / mkMerge / mkOverride around an attribute set of definitions:
    # push them down onto the attributes, without evaluating conditions.
    pushDownProperties = loc: file: cfg:
      if lib.isType "merge" cfg then concatMap (lib.pushDownProperties loc file) cfg.contents
      else if lib.isType "if" cfg then
        map (mapAttrs (n: v: lib.mkIf cfg.condition v)) (lib.pushDownProperties loc file cfg.content)
      else if lib.isType "override" cfg then
        map (mapAttrs (n: v: lib.mkOverride cfg.priority v)) (lib.pushDownProperties loc file cfg.content)
      else if isAttrs cfg then [ cfg ]
      else throw "In `${file}': the definition of `${lib.showOption loc}' is a ${typeOf cfg}, not an attribute set of option definitions.";

    # Keep the definitions of the highest priority (lowest number).
    filterOverrides' = defs:
      let
        getPrio = def: if lib.isType "override" def.value then def.value.priority else lib.defaultOverridePriority;
        highestPrio = foldl' (prio: def: lib.min (getPrio def) prio) 9999 defs;
        strip = def: if lib.isType "override" def.value then def // { value = def.value.content; } else def;
      in {
        values = concatMap (def: if getPrio def == highestPrio then [ (strip def) ] else [ ]) defs;
        inherit highestPrio;
      };

    # mkOrder: sort definitions (stable) by order priority.
    sortProperties = defs:
      let
        strip = def:
          if lib.isType "order" def.value
          then def // { value = def.value.content; inherit (def.value) priority; }
          else def;
        cmp = a: b: (a.priority or lib.defaultOrderPriority) < (b.priority or lib.defaultOrderPriority);
      in sort cmp (map strip defs);

    mergeDefinitions = loc: type: defs: rec {
      defsFinal' =
        let
          discharged = concatMap
            (m: map (value: { inherit (m) file; inherit value; }) (lib.dischargeProperties loc m.value))
            defs;
          overridden = lib.filterOverrides' discharged;
          sorted =
            if any (def: lib.isType "order" def.value) overridden.values
            then lib.sortProperties overridden.values
            else overridden.values;
        in { values = sorted; inherit (overridden) highestPrio; };
      defsFinal = defsFinal'.values;
      mergedValue =
        if isDefined then
          if all (def: type.check def.value) defsFinal then type.merge loc defsFinal
          else
            let bad = lib.findFirst (def: !type.check def.value) null defsFinal; in
            throw "A definition for option `${lib.showOption loc}' is not of type `${type.description}'. Definition values:${lib.showDefs [ bad ]}"
        else throw "The option `${lib.showOption loc}' is used but not defined.";
      isDefined = defsFinal != [ ];
      optionalValue = if isDefined then { value = mergedValue; } else { };
    };

    # One option: its definitions (plus its default) merged by its type.
    mergeOption = loc: opt: defs:
      let
        defs' = defs ++ lib.optional (opt ? default) { file = "<default>"; value = lib.mkOptionDefault opt.default; };
        res = lib.mergeDefinitions loc opt.type defs';
        value = if opt ? apply then opt.apply res.mergedValue else res.mergedValue;
      in
      opt // {
        inherit value loc;
        inherit (res) isDefined;
        highestPrio = res.defsFinal'.highestPrio;
        files = map (d: d.file) res.defsFinal;
      };

    # Merge the option declarations of all modules into one tree.
    mergeDeclarations = loc: trees:
      lib.zipAttrsWith
        (name: vs:
          let
            subLoc = loc ++ [ name ];
            opts = filter (v: lib.isOption v.value) vs;
          in
          if opts == [ ] then lib.mergeDeclarations subLoc vs
          else if length vs == 1 then (head vs).value // { declarations = [ (head vs).file ]; }
          else throw "The option `${lib.showOption subLoc}' in `${(elemAt vs 1).file}' is already declared in `${(head vs).file}'.")
        (map (t: mapAttrs (n: v: { inherit (t) file; value = v; }) t.value) trees);

    # Walk the declarations level by level, distributing the definitions.
    evalOptionTree = loc: decls: defs:
      let
        pushed = concatMap
          (d: map (v: { inherit (d) file; value = v; }) (lib.pushDownProperties loc d.file d.value))
          defs;
        byName = lib.zipAttrsWith (n: vs: vs)
          (map (d: mapAttrs (n: v: { inherit (d) file; value = v; }) d.value) pushed);
        results = mapAttrs
          (name: decl:
            let subDefs = byName.${name} or [ ]; subLoc = loc ++ [ name ]; in
            if lib.isOption decl then { option = lib.mergeOption subLoc decl subDefs; unmatched = [ ]; }
            else let r = lib.evalOptionTree subLoc decl subDefs; in { option = r.options; inherit (r) unmatched; })
          decls;
      in {
        options = mapAttrs (n: r: r.option) results;
        unmatched = concatMap
          (name:
            if results ? ${name} then results.${name}.unmatched
            else map (d: { loc = loc ++ [ name ]; inherit (d) file; }) byName.${name})
          (attrNames byName);
      };

    applyModuleArgs = f: args: if isFunction f then f (intersectAttrs (functionArgs f) args) else f;

    normaliseModule = file: key: m:
      let
        known = [ "_file" "key" "imports" "options" "config" "disabledModules" "meta" ];
        extra = attrNames (removeAttrs m known);
      in
      if !isAttrs m then
        throw "The module `${key}' in `${file}' is a ${typeOf m}, not a module (an attribute set or a function returning one)."
      else if m ? config || m ? options then
        (if extra != [ ] then
          throw "The module `${key}' in `${file}' has an unsupported attribute `${head extra}'. This is caused by introducing a top-level `config' or `options' attribute. Add configuration attributes immediately on the top level instead, or move all of them (namely: ${concatStringsSep " " extra}) into the explicit `config' attribute."
        else {
          inherit file key;
          imports = m.imports or [ ];
          disabledModules = m.disabledModules or [ ];
          options = m.options or { };
          config = m.config or { };
        })
      else {
        inherit file key;
        imports = m.imports or [ ];
        disabledModules = m.disabledModules or [ ];
        options = { };
        config = removeAttrs m [ "_file" "key" "imports" "disabledModules" "meta" ];
      };

    # The closure of the modules and their imports, each module once
    # (by `key': a path, an explicit key, or its position).
    collectModules = args: modules:
      let
        load = parentKey: parentFile: i: m:
          let
            isPath = typeOf m == "path";
            applied = lib.applyModuleArgs (if isPath then import m else m) args;
            key =
              if isPath then toString m
              else if isAttrs applied && applied ? key then applied.key
              else "${parentKey}:anon-${toString i}";
            file =
              if isPath then toString m
              else if isAttrs applied && applied ? _file then applied._file
              else parentFile;
          in {
            inherit key;
            module = lib.normaliseModule file key applied;
          };
        closure = genericClosure {
          startSet = lib.imap1 (load "<root>" "<unknown-file>") modules;
          operator = item: lib.imap1 (load item.key item.module.file) item.module.imports;
        };
        disabled = concatMap (item: map toString item.module.disabledModules) closure;
      in
      map (item: item.module) (filter (item: !(elem item.key disabled)) closure);

    evalModules = { modules, specialArgs ? { }, prefix ? [ ] }:
      let
        args = specialArgs // { inherit lib config options; };
        collected = lib.collectModules args modules;
        declarations = lib.mergeDeclarations prefix
          (map (m: { inherit (m) file; value = m.options; }) collected);
        evaluated = lib.evalOptionTree prefix declarations
          (map (m: { inherit (m) file; value = m.config; }) collected);
        options = evaluated.options;
        mapOptions = mapAttrs (n: v: if lib.isOption v then v.value else mapOptions v);
        config = mapOptions options;
        checked =
          if evaluated.unmatched == [ ] then config
          else
            let u = head evaluated.unmatched; in
            throw "The option `${lib.showOption u.loc}' defined in `${u.file}' does not exist.";
      in {
        inherit options;
        config = checked;
        extendModules = extra:
          lib.evalModules { modules = modules ++ (extra.modules or [ ]); inherit specialArgs prefix; };
      };
  };
in
lib
