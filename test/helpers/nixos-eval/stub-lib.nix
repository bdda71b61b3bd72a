# A small stand-in for nixpkgs' `lib` (nixpkgs is not on a fresh machine): the module system
# functions the homelab modules and ./options/*.nix call, with the merge semantics of nixpkgs
# lib/modules.nix and lib/types.nix that matter here, implemented for real:
# - evalModules: imports closure (a path imported twice is evaluated once, keyed by its path, as
#   in lib/modules.nix), `options` declarations merged into one tree, `config` definitions
#   pushed down through mkIf/mkMerge/mkOverride WITHOUT evaluating conditions (so `mkIf
#   config.x` works), then per option: discharge (mkIf false drops a definition), keep the
#   highest priority (mkForce 50 < plain 100 < mkDefault 1000 < option default 1500), check the
#   type, merge.
# - a definition of an undeclared option fails: "The option `a.b' does not exist".
# - a value not of the option's type fails: "A definition for option `a.b' is not of type …".
# - types: str, singleLineStr, nonEmptyStr, lines, bool, int, port, path, package, anything,
#   unspecified, attrs, listOf, attrsOf, nullOr, either, oneOf, enum, strMatching, submodule.
#   Single-valued types (str, bool, int, path, enum) fail on conflicting definitions; lines
#   joins with "\n"; listOf concatenates; attrsOf merges per attribute.
# Extra: evalModules also returns `importCounts` (how many times each file was named by an
# import, before de-duplication) so a test can see a module imported from two places.
let
  inherit (builtins)
    all any attrNames concatLists concatStringsSep elem filter foldl' genericClosure head
    isAttrs isBool isFunction isInt isList isPath isString length listToAttrs map mapAttrs
    match substring tail toJSON typeOf zipAttrsWith
    ;

  showLoc = loc: concatStringsSep "." loc;
  last = l: builtins.elemAt l (length l - 1);
  unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];
  min = l: foldl' (a: b: if b < a then b else a) (head l) (tail l);
  isStringLike = x: isString x || isPath x || (isAttrs x && x ? outPath);
  showVal = v: if isString v || isInt v || isBool v then toJSON v else "<${typeOf v}>";

  # ---- properties -------------------------------------------------------------------------
  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkMerge = contents: { _type = "merge"; inherit contents; };
  mkOverride = priority: content: { _type = "override"; inherit priority content; };
  mkDefault = mkOverride 1000;
  mkOptionDefault = mkOverride 1500;
  mkForce = mkOverride 50;
  mkOption = attrs: attrs // { _type = "option"; };
  isType = t: v: isAttrs v && (v._type or null) == t;

  # [{file, value, priority}] of one option's definitions, mkIf/mkMerge/mkOverride resolved.
  discharge = file: priority: v:
    if isType "if" v then
      (if v.condition then discharge file priority v.content else [ ])
    else if isType "merge" v then
      concatLists (map (discharge file priority) v.contents)
    else if isType "override" v then
      discharge file v.priority v.content
    else
      [ { inherit file priority; value = v; } ];

  # Defs of an attribute set's children, properties pushed down without evaluating conditions.
  pushDown = loc: v:
    if isType "if" v then
      mapAttrs (_: map (mkIf v.condition)) (pushDown loc v.content)
    else if isType "merge" v then
      zipAttrsWith (_: concatLists) (map (pushDown loc) v.contents)
    else if isType "override" v then
      mapAttrs (_: map (mkOverride v.priority)) (pushDown loc v.content)
    else if isAttrs v && !(v ? _type) then
      mapAttrs (_: x: [ x ]) v
    else
      throw "The option `${showLoc loc}' is not an option but a set of options: define its sub-options, not ${showVal v}";

  # The value of `loc` from its definitions [{file, value}] (properties still in place).
  mergeDefs = loc: type: defs:
    let
      discharged = concatLists (map (d: discharge d.file (d.priority or 100) d.value) defs);
      top = min (map (d: d.priority) discharged);
      kept = filter (d: d.priority == top) discharged;
      bad = filter (d: !(type.check d.value)) kept;
    in
    if discharged == [ ] then
      throw "The option `${showLoc loc}' is used but not defined."
    else if bad != [ ] then
      throw "A definition for option `${showLoc loc}' is not of type `${type.description}'. Definition values: in `${(head bad).file}': ${showVal (head bad).value}"
    else
      type.merge loc kept;

  mergeEqual = loc: defs:
    let first = (head defs).value;
    in
    if all (d: d.value == first) defs then first
    else throw "The option `${showLoc loc}' has conflicting definition values: ${concatStringsSep ", " (map (d: "in `${d.file}': ${showVal d.value}") defs)}";

  mkType = description: check: merge: { _type = "option-type"; inherit description check merge; };
  single = description: check: mkType description check mergeEqual;

  types = rec {
    str = single "string" isString;
    singleLineStr = single "(optionally newline-terminated) single-line string" (v: isString v && match "[^\n]*\n?" v != null);
    nonEmptyStr = single "non-empty string" (v: isString v && match "[ \t\n]*" v == null);
    lines = mkType "strings concatenated with \"\\n\"" isString (_: defs: concatStringsSep "\n" (map (d: d.value) defs));
    bool = single "boolean" isBool;
    int = single "signed integer" isInt;
    port = single "16 bit unsigned integer; between 0 and 65535 (both inclusive)" (v: isInt v && v >= 0 && v <= 65535);
    path = single "path" (v: isStringLike v && substring 0 1 (toString v) == "/");
    package = single "package" (v: (isAttrs v && (v.type or null) == "derivation") || (isString v && match "/nix/store/.*" v != null));
    anything = mkType "anything" (_: true) (loc: defs: (head defs).value);
    unspecified = anything // { description = "unspecified value"; };
    attrs = mkType "attribute set" isAttrs (_: defs: foldl' (a: d: a // d.value) { } defs);
    enum = values: single "one of ${concatStringsSep ", " (map toJSON values)}" (v: elem v values);
    strMatching = pattern: single "string matching the pattern ${pattern}" (v: isString v && match pattern v != null);

    listOf = elemType: mkType "list of ${elemType.description}" isList (loc: defs:
      concatLists (map (d: builtins.genList (i: mergeDefs (loc ++ [ "[${toString i}]" ]) elemType [ { inherit (d) file; value = builtins.elemAt d.value i; } ]) (length d.value)) defs));

    attrsOf = elemType: mkType "attribute set of ${elemType.description}" isAttrs (loc: defs:
      let
        names = unique (concatLists (map (d: attrNames d.value) defs));
        defsOf = n: concatLists (map (d: if d.value ? ${n} then [ { inherit (d) file; value = d.value.${n}; } ] else [ ]) defs);
        present = filter (n: concatLists (map (d: discharge d.file 100 d.value) (defsOf n)) != [ ]) names;
      in
      listToAttrs (map (n: { name = n; value = mergeDefs (loc ++ [ n ]) elemType (defsOf n); }) present));

    nullOr = elemType: mkType "null or ${elemType.description}" (v: v == null || elemType.check v) (loc: defs:
      if all (d: d.value == null) defs then null
      else if any (d: d.value == null) defs then throw "The option `${showLoc loc}' is defined both null and not null"
      else elemType.merge loc defs);

    either = t1: t2: mkType "${t1.description} or ${t2.description}" (v: t1.check v || t2.check v) (loc: defs:
      if all (d: t1.check d.value) defs then t1.merge loc defs
      else if all (d: t2.check d.value) defs then t2.merge loc defs
      else throw "The option `${showLoc loc}' has definitions of both ${t1.description} and ${t2.description}");

    oneOf = ts: foldl' either (head ts) (tail ts);

    submodule = module: mkType "submodule" (v: isAttrs v || isFunction v || isPath v) (loc: defs:
      (evalModules {
        modules = [ module ] ++ map (d: { _file = d.file; imports = [ d.value ]; }) defs;
        specialArgs = { name = last loc; };
        prefix = loc;
      }).config);
  };

  # ---- evalModules ------------------------------------------------------------------------
  evalModules = { modules, specialArgs ? { }, prefix ? [ ] }:
    let
      args = specialArgs // { inherit lib config options; };
      load = key: file: m:
        let
          v = if isPath m || isString m then import m else m;
          r = if isFunction v then v args else v;
          structured = r ? options || r ? config || r ? imports && attrNames (removeAttrs r [ "imports" "_file" "key" ]) == [ ];
          file' = if isPath m || isString m then toString m else r._file or file;
        in
        {
          inherit key;
          file = file';
          imports = r.imports or [ ];
          options = if structured then r.options or { } else { };
          config = if structured then r.config or { } else removeAttrs r [ "imports" "_file" "key" ];
        };
      keyOf = parent: i: m: if isPath m || isString m then toString m else "${parent}:anon-${toString i}";
      start = builtins.genList (i: let m = builtins.elemAt modules i; in { key = keyOf "<modules>" i m; module = m; file = "<modules>"; }) (length modules);
      closure = genericClosure {
        startSet = start;
        operator = item:
          let loaded = load item.key item.file item.module;
          in builtins.genList (i: let m = builtins.elemAt loaded.imports i; in { key = keyOf item.key i m; module = m; file = loaded.file; }) (length loaded.imports);
      };
      loaded = map (item: load item.key item.file item.module) closure;

      # Every file named by an import (or given as a module), counted before de-duplication.
      named = concatLists (map (m: filter (x: isPath x || isString x) m.imports) loaded) ++ filter (x: isPath x || isString x) modules;
      importCounts = zipAttrsWith (_: length) (map (p: { ${toString p} = 1; }) named);

      # One tree of declarations; an option declared twice is an error.
      mergeDecls = loc: a: b:
        zipAttrsWith (n: vs:
          if length vs == 1 then head vs
          else if any (isType "option") vs then throw "The option `${showLoc (loc ++ [ n ])}' is declared more than once"
          else foldl' (mergeDecls (loc ++ [ n ])) { } vs) [ a b ];
      options = foldl' (mergeDecls prefix) { } (map (m: m.options) loaded);

      evalTree = loc: decls: defs:
        let
          pushed = map (d: { inherit (d) file; children = pushDown loc d.value; }) defs;
          defined = unique (concatLists (map (p: attrNames p.children) pushed));
          undeclared = filter (n: !(decls ? ${n}) && n != "_module") defined;
          fileOf = n: (head (filter (p: p.children ? ${n}) pushed)).file;
          sub = n: concatLists (map (p: map (value: { inherit (p) file; inherit value; }) (p.children.${n} or [ ])) pushed);
          value = mapAttrs (n: decl:
            if isType "option" decl then
              mergeDefs (loc ++ [ n ]) (decl.type or types.anything)
                (sub n ++ (if decl ? default then [ { file = "default of ${showLoc (loc ++ [ n ])}"; priority = 1500; value = decl.default; } ] else [ ]))
            else evalTree (loc ++ [ n ]) decl (sub n)) decls;
        in
        if undeclared != [ ] then
          throw "The option `${showLoc (loc ++ [ (head undeclared) ])}' does not exist. Definition values: in `${fileOf (head undeclared)}'"
        else value;

      config = evalTree prefix options (map (m: { inherit (m) file; value = m.config; }) loaded);
    in
    { inherit config options importCounts; };

  lib = {
    inherit mkIf mkMerge mkOverride mkDefault mkOptionDefault mkForce mkOption types evalModules;
    stub = true;
    mkEnableOption = name: mkOption { type = types.bool; default = false; description = "Whether to enable ${name}."; };
    literalExpression = text: { _type = "literalExpression"; inherit text; };
    hasPrefix = p: s: substring 0 (builtins.stringLength p) s == p;
    splitString = sep: s: filter isString (builtins.split (builtins.replaceStrings [ "." "*" "+" "?" "(" ")" "[" "]" "|" "^" "$" ] [ "\\." "\\*" "\\+" "\\?" "\\(" "\\)" "\\[" "\\]" "\\|" "\\^" "\\$" ] sep) s);
    concatLines = l: concatStringsSep "" (map (x: x + "\n") l);
    concatStrings = concatStringsSep "";
    concatStringsSep = concatStringsSep;
    mapAttrs = mapAttrs;
    optionals = cond: list: if cond then list else [ ];
    mapAttrsToList = f: a: map (n: f n a.${n}) (attrNames a);
    escapeShellArg = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
    makeBinPath = ps: concatStringsSep ":" (map (p: "${p}/bin") ps);
  };
in
lib
