# A generated NixOS-style system configuration evaluated with the module
# system of ./lib.nix: a core module, 700 service modules (10 options each)
# grouped into category modules through `imports`, 200 feature modules
# (8 options each) whose values depend on each other through mkIf and
# priorities, thousands of users and ~100 groups as submodules in `attrsOf`, one
# systemd-like unit per enabled service, /etc files built from all of it.
# The result is a small summary: counts, a few strings and a hash of the
# whole configuration as JSON.
let
  lib = import ./lib.nix;
  inherit (lib)
    mkOption mkEnableOption mkIf mkMerge mkDefault mkForce mkOverride
    mkBefore mkAfter mkOrder types genAttrs fixedWidthNumber concatMapStrings
    concatMapStringsSep concatStringsSep optional optionals optionalString
    optionalAttrs mapAttrsToList mapAttrs' nameValuePair filterAttrs mod
    range imap0 escapeShellArgs count;
  inherit (builtins) attrNames attrValues length genList elemAt hashString toJSON listToAttrs;

  nServices = 700;
  nCategories = 35;
  nFeatures = 200;
  nTeams = 50;
  usersPerTeam = 80;

  svcName = i: "svc${fixedWidthNumber 4 i}";
  featName = i: "f${fixedWidthNumber 3 i}";
  # static dependency graph between services (always on lower indices)
  svcDeps = i: lib.uniqueStrings (map svcName (optionals (i > 0) [ (i / 2) (mod (i * 7) i) ]));

  # ------------------------------------------------------------------
  # submodules
  userModule = { name, config, ... }: {
    options = {
      name = mkOption { type = types.str; default = name; };
      uid = mkOption { type = types.nullOr types.int; default = null; };
      group = mkOption { type = types.str; default = "users"; };
      extraGroups = mkOption { type = types.listOf types.str; default = [ ]; };
      isNormalUser = mkOption { type = types.bool; default = false; };
      isSystemUser = mkOption { type = types.bool; default = false; };
      home = mkOption {
        type = types.str;
        default = if config.isNormalUser then "/home/${config.name}" else "/var/empty";
      };
      shell = mkOption { type = types.enum [ "bash" "zsh" "fish" "nologin" ]; default = "bash"; };
      description = mkOption { type = types.nullOr types.str; default = null; };
      packages = mkOption { type = types.listOf types.str; default = [ ]; };
      openssh.authorizedKeys.keys = mkOption { type = types.listOf types.str; default = [ ]; };
    };
    config = mkMerge [
      (mkIf config.isSystemUser { shell = mkDefault "nologin"; })
      (mkIf config.isNormalUser { extraGroups = mkBefore [ "users" ]; })
    ];
  };

  groupModule = { name, ... }: {
    options = {
      name = mkOption { type = types.str; default = name; };
      gid = mkOption { type = types.nullOr types.int; default = null; };
      members = mkOption { type = types.listOf types.str; default = [ ]; };
    };
  };

  etcModule = { name, config, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = true; };
      text = mkOption { type = types.lines; };
      mode = mkOption { type = types.str; default = "0644"; };
      target = mkOption { type = types.str; default = name; };
    };
  };

  unitModule = { name, config, ... }: {
    options = {
      description = mkOption { type = types.str; default = ""; };
      enable = mkOption { type = types.bool; default = true; };
      wantedBy = mkOption { type = types.listOf types.str; default = [ ]; };
      after = mkOption { type = types.listOf types.str; default = [ ]; };
      requires = mkOption { type = types.listOf types.str; default = [ ]; };
      path = mkOption { type = types.listOf types.str; default = [ ]; };
      environment = mkOption { type = types.attrsOf (types.either types.str types.int); default = { }; };
      script = mkOption { type = types.lines; default = ""; };
      serviceConfig = mkOption {
        type = types.attrsOf (types.oneOf [ types.str types.int types.bool ]);
        default = { };
      };
      unitText = mkOption { type = types.str; };
    };
    config = {
      environment.PATH = concatMapStringsSep ":" (p: "/run/pkgs/${p}/bin") config.path;
      serviceConfig.Type = mkDefault "simple";
      unitText = ''
        [Unit]
        Description=${config.description}
        After=${concatStringsSep " " config.after}
        Requires=${concatStringsSep " " config.requires}

        [Service]
        ${concatMapStrings (n: "Environment=\"${n}=${toString config.environment.${n}}\"\n") (attrNames config.environment)}${concatMapStrings (n: "${n}=${lib.showValue config.serviceConfig.${n}}\n") (attrNames config.serviceConfig)}ExecStart=${hashString "sha1" config.script}

        [Install]
        WantedBy=${concatStringsSep " " config.wantedBy}
      '';
    };
  };

  # ------------------------------------------------------------------
  # the core module: system-wide options
  core = { config, lib, ... }: {
    key = "core";
    options = {
      networking = {
        hostName = mkOption { type = types.str; default = "nixos"; };
        domain = mkOption { type = types.nullOr types.str; default = null; };
        fqdn = mkOption {
          type = types.str;
          default = config.networking.hostName
            + optionalString (config.networking.domain != null) ".${config.networking.domain}";
        };
        firewall = {
          enable = mkOption { type = types.bool; default = true; };
          allowedTCPPorts = mkOption { type = types.listOf types.port; default = [ ]; };
          allowedUDPPorts = mkOption { type = types.listOf types.port; default = [ ]; };
          rules = mkOption { type = types.lines; default = ""; };
        };
      };
      environment = {
        systemPackages = mkOption { type = types.listOf types.str; default = [ ]; };
        etc = mkOption { type = types.attrsOf (types.submodule etcModule); default = { }; };
        variables = mkOption { type = types.attrsOf (types.either types.str types.int); default = { }; };
      };
      boot = {
        kernelParams = mkOption { type = types.listOf types.str; default = [ ]; };
        kernelModules = mkOption { type = types.listOf types.str; default = [ ]; };
      };
      users = {
        users = mkOption { type = types.attrsOf (types.submodule userModule); default = { }; };
        groups = mkOption { type = types.attrsOf (types.submodule groupModule); default = { }; };
      };
      systemd.services = mkOption { type = types.attrsOf (types.submodule unitModule); default = { }; };
      system = {
        stateVersion = mkOption { type = types.enum [ "21.11" "22.05" "22.11" ]; default = "21.11"; };
        activationScripts = mkOption { type = types.attrsOf types.lines; default = { }; };
      };
      assertions = mkOption {
        type = types.listOf (types.submodule {
          options.assertion = mkOption { type = types.bool; };
          options.message = mkOption { type = types.str; };
        });
        default = [ ];
      };
    };
    config = {
      system.stateVersion = "22.05";
      boot.kernelParams = mkBefore [ "console=ttyS0,115200" "panic=1" ];
      boot.kernelModules = [ "kvm-amd" ];
      users.groups = mkMerge ([{ users.gid = 100; wheel.gid = 1; daemons.gid = 300; }]
        ++ mapAttrsToList
          (n: u: { ${u.group}.members = [ n ]; })
          config.users.users);
      environment.variables = {
        EDITOR = mkDefault "nano";
        PAGER = "less";
        HOSTNAME = config.networking.fqdn;
      };
      networking.firewall.rules = concatMapStrings
        (p: "-A INPUT -p tcp --dport ${toString p} -j ACCEPT\n")
        config.networking.firewall.allowedTCPPorts;
      environment.etc = {
        hostname.text = config.networking.fqdn;
        passwd.text = concatMapStrings
          (u: "${u.name}:x:${toString u.uid}:${toString (config.users.groups.${u.group}.gid or 65534)}:${toString u.description}:${u.home}:/run/current-system/sw/bin/${u.shell}\n")
          (attrValues config.users.users);
        group.text = concatMapStrings
          (g: "${g.name}:x:${toString g.gid}:${concatStringsSep "," g.members}\n")
          (attrValues config.users.groups);
        "ssh/authorized_keys".text = concatMapStrings
          (u: concatMapStrings (k: "${u.name} ${k}\n") u.openssh.authorizedKeys.keys)
          (attrValues config.users.users);
        "firewall.rules" = mkIf config.networking.firewall.enable { text = config.networking.firewall.rules; mode = "0600"; };
      };
      system.activationScripts.etc = concatMapStrings
        (e: "install -m ${e.mode} /etc/static/${e.target} /etc/${e.target}\n")
        (builtins.filter (e: e.enable) (attrValues config.environment.etc));
      assertions = mapAttrsToList
        (n: u: {
          assertion = u.isNormalUser != u.isSystemUser;
          message = "user ${n} must be exactly one of a normal or a system user";
        })
        config.users.users;
    };
  };

  # ------------------------------------------------------------------
  # services: one module each, imported by category modules
  serviceModule = i: { config, lib, ... }:
    let
      name = svcName i;
      cfg = config.services.${name};
      deps = svcDeps i;
    in {
      options.services.${name} = {
        enable = mkEnableOption "the ${name} service";
        port = mkOption { type = types.port; default = 10000 + i; };
        user = mkOption { type = types.str; default = name; };
        group = mkOption { type = types.str; default = if mod i 3 == 0 then "daemons" else name; };
        extraArgs = mkOption { type = types.listOf types.str; default = [ ]; };
        settings = mkOption { type = types.attrsOf (types.either types.int types.str); default = { }; };
        logLevel = mkOption { type = types.enum [ "debug" "info" "warn" "error" ]; default = "info"; };
        openFirewall = mkOption { type = types.bool; default = false; };
        package = mkOption { type = types.str; default = "${name}-1.${toString i}"; };
        dependsOn = mkOption { type = types.listOf types.str; default = deps; };
      };
      config = mkMerge [
        # dependencies of an enabled service are enabled (at default priority)
        { services = mkMerge (map (d: { ${d}.enable = mkIf cfg.enable (mkDefault true); }) deps); }
        (mkIf cfg.enable (mkMerge [
          {
            users.users.${cfg.user} = {
              isSystemUser = true;
              group = cfg.group;
              uid = 400 + i;
              description = "${name} daemon";
            };
            users.groups.${cfg.group} = { gid = mkDefault (400 + i); };
            environment.systemPackages = [ cfg.package ];
            systemd.services.${name} = {
              description = "The ${name} service";
              wantedBy = [ "multi-user.target" ];
              after = [ "network.target" ] ++ map (d: "${d}.service") cfg.dependsOn;
              requires = map (d: "${d}.service") cfg.dependsOn;
              path = [ cfg.package "coreutils" ];
              environment = cfg.settings // { PORT = cfg.port; LOG_LEVEL = cfg.logLevel; };
              script = "exec ${cfg.package}/bin/${name} --port ${toString cfg.port} ${escapeShellArgs cfg.extraArgs}";
              serviceConfig = {
                User = cfg.user;
                Group = cfg.group;
                Restart = "always";
                RestartSec = mod i 10;
                PrivateTmp = mod i 2 == 0;
              };
            };
            environment.etc."${name}/config.json".text = toJSON (cfg.settings // { inherit (cfg) port logLevel; });
          }
          (mkIf cfg.openFirewall { networking.firewall.allowedTCPPorts = [ cfg.port ]; })
          (mkIf (cfg.logLevel == "debug") { boot.kernelParams = mkAfter [ "${name}.debug=1" ]; })
          (mkIf (mod i 5 == 0) { boot.kernelModules = mkOrder (900 + i) [ "${name}-mod" ]; })
        ]))
      ];
    };

  categoryModule = c: {
    key = "category-${toString c}";
    imports = [ core ]
      ++ genList (k: serviceModule (c * (nServices / nCategories) + k)) (nServices / nCategories);
    config.environment.variables."CATEGORY_${toString c}" = c;
  };

  # ------------------------------------------------------------------
  # features: scalar options with values depending on each other
  featureModule = i: { config, lib, ... }:
    let
      name = featName i;
      cfg = config.features.${name};
      prev = config.features.${featName (i - 1)};
    in {
      options.features.${name} = {
        enable = mkOption { type = types.bool; default = mod i 4 != 1; };
        level = mkOption { type = types.int; default = i; };
        label = mkOption { type = types.str; default = "feature ${name}"; };
        tags = mkOption { type = types.listOf types.str; default = [ ]; };
        mode = mkOption { type = types.enum [ "off" "auto" "on" ]; default = "auto"; };
        limit = mkOption { type = types.nullOr types.int; default = null; };
        weight = mkOption { type = types.either types.int types.str; default = i * 3; };
        params = mkOption { type = types.attrsOf types.str; default = { }; };
      };
      config = mkMerge [
        {
          features.${name} = {
            tags = [ "t${toString (mod i 7)}" ] ++ optional cfg.enable "enabled";
            params.name = name;
          };
        }
        (optionalAttrs (i > 0) {
          features.${name} = {
            level = mkIf prev.enable (mkDefault (prev.level + 2));
            mode = mkIf ((prev.mode == "on" && mod i 5 != 0) || prev.level > 100) "on";
            limit = mkIf (prev.limit != null || mod i 3 == 0) ((if prev.limit == null then 0 else prev.limit) + i);
            params.prev = prev.label;
          };
          # each feature also tunes its predecessor, at lower priorities
          features.${featName (i - 1)} = {
            label = mkDefault "tuned by ${name}";
            tags = mkAfter [ "next:${name}" ];
            weight = mkIf (mod i 10 == 0) (mkForce "heavy");
          };
        })
        (mkIf (cfg.enable && cfg.mode == "on") {
          environment.variables."FEATURE_${lib.toUpper name}" = cfg.level;
          boot.kernelParams = [ "${name}=${toString cfg.level}" ];
        })
        (mkIf (mod i 6 == 0) {
          services.${svcName (mod (i * 13) nServices)} = {
            enable = true;
            logLevel = mkIf (mod i 12 == 0) "debug";
            openFirewall = cfg.enable;
            extraArgs = [ "--feature=${name}" "--label=${cfg.label}" ];
            settings = { "feature_${name}" = cfg.level; mode = cfg.mode; };
          };
        })
      ];
    };

  # ------------------------------------------------------------------
  # teams of normal users, all importing one shared module (deduplicated by key)
  commonTeam = {
    key = "common-team";
    config.users.groups.staff.gid = 50;
    config.environment.systemPackages = mkBefore [ "git" "vim" ];
  };

  teamModule = t: { config, lib, ... }: {
    imports = [ commonTeam ];
    config = {
      users.users = listToAttrs (genList
        (k:
          let
            n = t * usersPerTeam + k;
            uname = "u${fixedWidthNumber 4 n}";
          in nameValuePair uname {
            isNormalUser = true;
            uid = 1000 + n;
            group = if mod n 4 == 0 then "staff" else "users";
            extraGroups = optional (mod n 10 == 0) "wheel" ++ optional (mod n 7 == 0) "docker";
            description = if mod n 3 == 0 then null else "User number ${toString n}";
            shell = if mod n 5 == 0 then "zsh" else mkDefault "bash";
            packages = [ "pkg-${toString (mod n 17)}" ] ++ optional (mod n 2 == 0) "htop";
            openssh.authorizedKeys.keys = [ "ssh-ed25519 ${hashString "sha256" uname}" ];
          })
        usersPerTeam);
      users.groups."team${toString t}".members = genList (k: "u${fixedWidthNumber 4 (t * usersPerTeam + k)}") usersPerTeam;
      environment.systemPackages = [ "team-${toString t}-tools" ];
    };
  };

  # admins: adjusts some users of every team, with priorities and ordering
  adminModule = { config, lib, ... }: {
    config = {
      users.users = listToAttrs (genList
        (k:
          let n = k * 9; in
          nameValuePair "u${fixedWidthNumber 4 n}" {
            extraGroups = mkAfter [ "admin" ];
            shell = mkForce "fish";
            home = mkIf (mod n 2 == 0) "/srv/admin/u${toString n}";
          })
        (nTeams * usersPerTeam / 9));
      environment.systemPackages = mkAfter [ "tmux" ];
      docker.enable = lib.any (u: lib.elem "docker" u.extraGroups) (attrValues config.users.users);
    };
    options.docker.enable = mkOption { type = types.bool; default = false; };
  };

  root = {
    imports = genList categoryModule nCategories
      ++ genList featureModule nFeatures
      ++ genList teamModule nTeams
      ++ [ adminModule ];
    networking.hostName = "bench";
    networking.domain = "example.org";
    features.${featName 0}.mode = "on";
    features.${featName 3}.limit = mkForce 7;
    services.${svcName (nServices - 1)}.enable = true;
    services.${svcName (nServices - 2)} = { enable = true; logLevel = "debug"; openFirewall = true; };
    services.${svcName 8}.enable = mkForce false;
    environment.variables.EDITOR = "vim";
  };

  eval = lib.evalModules { modules = [ root ]; };
  cfg = eval.config;

  enabledServices = builtins.filter (n: cfg.services.${n}.enable) (attrNames cfg.services);
  failedAssertions = builtins.filter (a: !a.assertion) cfg.assertions;

  # a type error is a catchable error
  badEval = lib.evalModules {
    modules = [{ options.x = mkOption { type = types.listOf types.int; }; config.x = [ 1 "two" ]; }];
  };
in
{
  fqdn = cfg.networking.fqdn;
  options = length (lib.collect lib.isOption eval.options);
  enabledServices = length enabledServices;
  firstServices = concatStringsSep "," (lib.take 5 enabledServices);
  users = length (attrNames cfg.users.users);
  groups = length (attrNames cfg.users.groups);
  units = length (attrNames cfg.systemd.services);
  etcFiles = length (attrNames cfg.environment.etc);
  firewallPorts = cfg.networking.firewall.allowedTCPPorts;
  kernelParams = concatStringsSep " " cfg.boot.kernelParams;
  kernelModules = cfg.boot.kernelModules;
  systemPackages = length cfg.environment.systemPackages;
  packagesHead = lib.take 3 cfg.environment.systemPackages;
  docker = cfg.docker.enable;
  failedAssertions = length failedAssertions;
  admin = { inherit (cfg.users.users.u0018) extraGroups shell home; };
  featureLast = cfg.features.${featName (nFeatures - 1)};
  unit = hashString "sha256" cfg.systemd.services.${svcName (nServices - 1)}.unitText;
  passwd = hashString "sha256" cfg.environment.etc.passwd.text;
  config = hashString "sha256" (toJSON cfg);
  typeErrorCaught = !(builtins.tryEval (builtins.deepSeq badEval.config.x true)).success;
}
