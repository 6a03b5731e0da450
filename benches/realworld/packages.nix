# A nixpkgs-style package set built with ./lib.nix: a fixed point of a base
# set and several overlays (`self: super:`), a three-stage bootstrap of the
# standard environment, ~20 hand-written core packages, thousands of
# generated libraries, applications and Python packages (a nested scope),
# all defined by functions taking `{ stdenv, fetchurl, lib, dep ? null, ... }`
# and called with `callPackage`; `override`, `overrideAttrs` and
# `overrideScope` in later overlays; a second, lazily used instance of the
# set with another stdenv. Every package is a `derivation` whose attributes
# interpolate its dependencies (`"${dep}/bin"`, `${dep.dev}`), so evaluating
# the summary hashes thousands of derivations (nothing is built or written:
# `nix-instantiate --eval` is read-only).
let
  lib = import ./lib.nix;
  inherit (lib)
    fix extends composeManyExtensions callPackageWith makeScope genAttrs
    nameValuePair optional optionals optionalString mod range filterAttrs
    concatMapStringsSep fixedWidthNumber isDerivation uniqueStrings;
  inherit (builtins) attrNames attrValues length genList listToAttrs filter hashString elemAt;

  layers = 100;
  layerSize = 60;
  nLibs = layers * layerSize;
  nApps = 3000;
  nPy = 1500;

  libName = i: "lib${fixedWidthNumber 4 i}";
  appName = i: "app${fixedWidthNumber 4 i}";
  pyName = i: "py-${fixedWidthNumber 4 i}";

  # dependencies: three libraries of the previous layer, one further back
  libDeps = i:
    let k = i / layerSize; in
    if k == 0 then [ ]
    else uniqueStrings (map libName (
      genList (t: (k - 1) * layerSize + mod (i * 31 + t * 17) layerSize) 3
      ++ optional (k > 2) (mod (i * 7) ((k - 2) * layerSize))));
  appLibs = i: uniqueStrings (map libName (genList (t: mod (i * 97 + t * 331) nLibs) 4));
  pyDeps = i: uniqueStrings (map pyName (optionals (i > 0) [ (i / 2) (mod (i * 5) i) ]));

  system = "x86_64-linux";

  # ------------------------------------------------------------------
  # the base set: fetchers, bootstrap and the standard environment
  base = self: {
    inherit lib system;
    callPackage = callPackageWith self;

    fetchurl = { url, sha256, name ? baseNameOf url, executable ? false }: derivation {
      inherit name url executable system;
      builder = "builtin:fetchurl";
      urls = [ url ];
      unpack = false;
      outputHashMode = if executable then "recursive" else "flat";
      outputHashAlgo = "sha256";
      outputHash = sha256;
      preferLocalBuild = true;
    };

    bootstrapTools = derivation {
      name = "bootstrap-tools";
      inherit system;
      builder = "/bin/sh";
      args = [ "-c" "tar xf ${self.bootstrapTarball} -C $out" ];
    };
    bootstrapTarball = self.fetchurl {
      url = "http://tarballs.example.org/stdenv-linux/x86_64/bootstrap-tools.tar.xz";
      sha256 = hashString "sha256" "bootstrap-tools";
    };

    mkStdenv = { name, shell, cc, previous ? null, extraAttrs ? { } }:
      let
        stdenv = derivation {
          inherit name system;
          builder = shell;
          args = [ "-e" "-c" "mkdir -p $out; echo ${cc}/bin/cc > $out/setup" ];
          initialPath = [ cc ];
          prev = if previous == null then "" else "${previous}";
          defaultNativeBuildInputs = [ cc self.bootstrapTools ];
        } // extraAttrs // {
          inherit shell cc system;
          mkDerivation = self.mkDerivationWith stdenv;
          isLinux = true;
        };
      in stdenv;

    mkDerivationWith = stdenv: attrs:
      let
        name = attrs.name or "${attrs.pname}-${attrs.version}";
        get = field: attrs.${field} or [ ];
        drv = derivation (removeAttrs attrs [ "meta" "passthru" ] // {
          inherit name;
          inherit (stdenv) system;
          outputs = attrs.outputs or [ "out" ];
          builder = stdenv.shell;
          args = [ "-e" "${stdenv}/setup" "genericBuild" ];
          inherit stdenv;
          buildInputs = get "buildInputs";
          nativeBuildInputs = get "nativeBuildInputs";
          propagatedBuildInputs = get "propagatedBuildInputs";
          PATH = lib.makeBinPath (get "nativeBuildInputs" ++ [ stdenv.cc ]);
          NIX_CFLAGS_COMPILE = concatMapStringsSep " "
            (d: "-isystem ${d.dev or d}/include")
            (filter (d: d != null) (get "buildInputs"));
          configureFlags = get "configureFlags";
        });
      in
      drv // attrs.passthru or { } // {
        meta = attrs.meta or { };
        overrideAttrs = f: self.mkDerivationWith stdenv (attrs // f attrs);
      };

    stdenvStage1 = self.mkStdenv {
      name = "stdenv-linux-stage1";
      shell = "${self.bootstrapTools}/bin/bash";
      cc = self.bootstrapTools;
    };
    gccStage2 = self.stdenvStage1.mkDerivation {
      pname = "gcc";
      version = "11.3.0";
      src = self.fetchurl {
        url = "mirror://gnu/gcc/gcc-11.3.0.tar.xz";
        sha256 = hashString "sha256" "gcc-11.3.0";
      };
      configureFlags = [ "--enable-languages=c,c++" "--disable-multilib" ];
    };
    stdenvStage2 = self.mkStdenv {
      name = "stdenv-linux-stage2";
      shell = "${self.bootstrapTools}/bin/bash";
      cc = self.gccStage2;
      previous = self.stdenvStage1;
    };
    stdenv = self.mkStdenv {
      name = "stdenv-linux";
      shell = "${self.bash}/bin/bash";
      cc = self.gccStage2;
      previous = self.stdenvStage2;
      extraAttrs = { hostPlatform = system; };
    };
    # bash is built by the stage-2 stdenv (the final one uses it)
    bash = self.callPackage ({ stdenvStage2, fetchurl }: stdenvStage2.mkDerivation {
      pname = "bash";
      version = "5.1-p16";
      src = fetchurl { url = "mirror://gnu/bash/bash-5.1.tar.gz"; sha256 = hashString "sha256" "bash-5.1"; };
    }) { };
  };

  # ------------------------------------------------------------------
  # core packages, written by hand
  simple = pname: version: { stdenv, fetchurl, ... }@args: stdenv.mkDerivation {
    inherit pname version;
    src = fetchurl {
      url = "https://example.org/${pname}/${pname}-${version}.tar.gz";
      sha256 = hashString "sha256" "${pname}-${version}";
    };
    buildInputs = builtins.filter (d: d != null)
      (attrValues (removeAttrs args [ "stdenv" "fetchurl" "lib" ]));
  };

  coreOverlay = self: super: {
    coreutils = self.callPackage (simple "coreutils" "9.1") { };
    gnumake = self.callPackage (simple "gnumake" "4.3") { };
    pkg-config = self.callPackage (simple "pkg-config" "0.29.2") { };
    perl = self.callPackage (simple "perl" "5.34.1") { };
    xz = self.callPackage (simple "xz" "5.2.5") { };
    bzip2 = self.callPackage (simple "bzip2" "1.0.8") { };
    cmake = self.callPackage ({ stdenv, fetchurl, openssl, ncurses ? null, zlib }:
      (simple "cmake" "3.23.1") { inherit stdenv fetchurl openssl ncurses zlib; }) { };
    zlib = self.callPackage ({ stdenv, fetchurl, lib, static ? false }: stdenv.mkDerivation {
      pname = "zlib";
      version = "1.2.12";
      src = fetchurl { url = "https://zlib.net/zlib-1.2.12.tar.gz"; sha256 = hashString "sha256" "zlib"; };
      outputs = [ "out" "dev" ];
      configureFlags = lib.optional static "--static";
    }) { };
    openssl = self.callPackage ({ stdenv, fetchurl, lib, perl, zlib, withZlib ? true, enableLegacy ? false }: stdenv.mkDerivation {
      pname = "openssl";
      version = "3.0.3";
      src = fetchurl { url = "https://www.openssl.org/source/openssl-3.0.3.tar.gz"; sha256 = hashString "sha256" "openssl"; };
      outputs = [ "bin" "dev" "out" "man" ];
      nativeBuildInputs = [ perl ];
      buildInputs = lib.optional withZlib zlib;
      configureFlags = [ "shared" "--openssldir=etc/ssl" ]
        ++ lib.optional withZlib "zlib"
        ++ lib.optional enableLegacy "enable-legacy";
      passthru.hasLegacy = enableLegacy;
    }) { };
    ncurses = self.callPackage ({ stdenv, fetchurl, lib, pkg-config, abiVersion ? "6" }: stdenv.mkDerivation {
      pname = "ncurses";
      version = "6.3";
      src = fetchurl { url = "mirror://gnu/ncurses/ncurses-6.3.tar.gz"; sha256 = hashString "sha256" "ncurses"; };
      outputs = [ "out" "dev" "man" ];
      nativeBuildInputs = [ pkg-config ];
      configureFlags = [ "--with-abi-version=${abiVersion}" "--with-pkg-config-libdir=${placeholder "dev"}/lib/pkgconfig" ];
    }) { };
    readline = self.callPackage (simple "readline" "8.1") { inherit (self) ncurses; };
    libffi = self.callPackage (simple "libffi" "3.4.2") { };
    sqlite = self.callPackage (simple "sqlite" "3.38.5") { inherit (self) zlib readline; };
    libxml2 = self.callPackage (simple "libxml2" "2.9.14") { inherit (self) zlib xz; };
    curl = self.callPackage ({ stdenv, fetchurl, lib, pkg-config, openssl, zlib, withBrotli ? true, brotli ? null }: stdenv.mkDerivation {
      pname = "curl";
      version = "7.83.1";
      src = fetchurl { url = "https://curl.se/download/curl-7.83.1.tar.bz2"; sha256 = hashString "sha256" "curl"; };
      outputs = [ "bin" "dev" "out" ];
      nativeBuildInputs = [ pkg-config ];
      buildInputs = [ openssl zlib ] ++ lib.optional withBrotli brotli;
      configureFlags = [ "--with-ssl=${openssl.dev}" "--with-ca-fallback" ];
    }) { };
    brotli = self.callPackage (simple "brotli" "1.0.9") { };
    python3 = self.callPackage ({ stdenv, fetchurl, lib, openssl, zlib, bzip2, xz, libffi, sqlite, readline, ncurses }: stdenv.mkDerivation {
      pname = "python3";
      version = "3.10.4";
      src = fetchurl { url = "https://www.python.org/ftp/python/3.10.4/Python-3.10.4.tar.xz"; sha256 = hashString "sha256" "python"; };
      buildInputs = [ openssl zlib bzip2 xz libffi sqlite readline ncurses ];
      configureFlags = [ "--enable-shared" "--with-openssl=${openssl.dev}" ];
      passthru = { pythonVersion = "3.10"; sitePackages = "lib/python3.10/site-packages"; };
    }) { };
    git = self.callPackage ({ stdenv, fetchurl, lib, curl, openssl, zlib, perl, python3, withManual ? true }: stdenv.mkDerivation {
      pname = "git";
      version = "2.36.1";
      src = fetchurl { url = "https://www.kernel.org/pub/software/scm/git/git-2.36.1.tar.xz"; sha256 = hashString "sha256" "git"; };
      outputs = [ "out" ] ++ lib.optional withManual "doc";
      buildInputs = [ curl openssl zlib ];
      nativeBuildInputs = [ perl python3 ];
      makeFlags = [ "PERL_PATH=${perl}/bin/perl" "PYTHON_PATH=${python3}/bin/python3" "CURLDIR=${curl.dev}" ];
    }) { };
  };

  # ------------------------------------------------------------------
  # thousands of libraries, generated
  genericLib =
    { stdenv, fetchurl, lib, pkg-config, zlib
    , pname, version, deps ? [ ], openssl ? null, withDocs ? true, enableStatic ? false, extraFlags ? [ ]
    }:
    stdenv.mkDerivation {
      inherit pname version;
      src = fetchurl {
        url = "https://example.org/${pname}/${pname}-${version}.tar.gz";
        sha256 = hashString "sha256" "${pname}-${version}";
      };
      outputs = [ "out" "dev" ] ++ lib.optional withDocs "doc";
      nativeBuildInputs = [ pkg-config ];
      buildInputs = [ zlib openssl ] ++ deps;
      configureFlags = [ "--prefix=${placeholder "out"}" "--includedir=${placeholder "dev"}/include" ]
        ++ lib.optional enableStatic "--enable-static"
        ++ extraFlags;
      passthru = { inherit deps; };
      meta = { description = "The ${pname} library"; license = "mit"; };
    };

  libsOverlay = self: super: listToAttrs (genList
    (i: nameValuePair (libName i) (self.callPackage genericLib {
      pname = libName i;
      version = "1.${toString (mod i 13)}.${toString (mod i 5)}";
      deps = map (n: self.${n}) (libDeps i);
      openssl = if mod i 4 == 0 then self.openssl else null;
      withDocs = mod i 3 != 0;
    }))
    nLibs);

  # ------------------------------------------------------------------
  # a Python package scope
  genericPy = { buildPythonPackage, fetchurl, lib, pname, pyDeps ? [ ], sqlite, libxml2 ? null }:
    buildPythonPackage {
      inherit pname;
      version = "0.${toString (builtins.stringLength pname)}";
      src = fetchurl { url = "https://pypi.example.org/${pname}.tar.gz"; sha256 = hashString "sha256" pname; };
      propagatedBuildInputs = pyDeps;
      buildInputs = [ sqlite libxml2 ];
    };

  pythonOverlay = self: super: {
    python3Packages = makeScope (extra: callPackageWith (self // extra)) (pself: {
      buildPythonPackage = { pname, version, propagatedBuildInputs ? [ ], doCheck ? true, ... }@a:
        self.stdenv.mkDerivation (removeAttrs a [ "doCheck" ] // {
          name = "python3.10-${pname}-${version}";
          nativeBuildInputs = [ self.python3 ];
          PYTHONPATH = lib.makeSearchPath self.python3.sitePackages propagatedBuildInputs;
          doCheck = if doCheck then "1" else "";
        });
    } // listToAttrs (genList
      (i: nameValuePair (pyName i) (pself.callPackage genericPy {
        pname = pyName i;
        pyDeps = map (n: pself.${n}) (pyDeps i);
        libxml2 = if mod i 2 == 0 then self.libxml2 else null;
      }))
      nPy));
  };

  # ------------------------------------------------------------------
  # applications
  genericApp =
    { stdenv, fetchurl, lib, cmake, python3, python3Packages
    , pname, libs, pyLibs ? [ ], ncurses ? null, withGui ? false, glib ? null
    }:
    stdenv.mkDerivation {
      inherit pname;
      version = "2.${toString (lib.length libs)}";
      src = fetchurl { url = "https://apps.example.org/${pname}-src.tar.gz"; sha256 = hashString "sha256" pname; };
      outputs = [ "out" "man" ];
      nativeBuildInputs = [ cmake python3 ];
      buildInputs = libs ++ [ ncurses ] ++ lib.optional withGui glib;
      propagatedBuildInputs = pyLibs;
      cmakeFlags = [ "-DWITH_GUI=${if withGui then "ON" else "OFF"}" ]
        ++ map (l: "-DDEP_${lib.toUpper (lib.getName l)}=${l.dev}") libs;
      postInstall = ''
        wrapProgram $out/bin/${pname} \
          --prefix PATH : ${lib.makeBinPath libs} \
          --set PYTHONPATH ${lib.makeSearchPath python3.sitePackages pyLibs}
      '';
    };

  appsOverlay = self: super: {
    glib = self.callPackage (simple "glib" "2.72.1") { inherit (self) libffi zlib python3; };
  } // listToAttrs (genList
    (i: nameValuePair (appName i) (self.callPackage genericApp {
      pname = appName i;
      libs = map (n: self.${n}) (appLibs i);
      pyLibs = map (n: self.python3Packages.${n}) (uniqueStrings [ (pyName (mod (i * 3) nPy)) (pyName (mod (i * 11) nPy)) ]);
      withGui = mod i 3 == 0;
      ncurses = if mod i 2 == 0 then self.ncurses else null;
    }))
    nApps);

  # ------------------------------------------------------------------
  # later fixes: overrides that propagate through the fixed point
  fixesOverlay = self: super: {
    openssl = super.openssl.override { enableLegacy = true; };
    zlib = super.zlib.overrideAttrs (old: { patches = old.patches or [ ] ++ [ "CVE-2018-25032.patch" ]; });
    curl = (super.curl.override { withBrotli = false; }).overrideAttrs (old: {
      configureFlags = old.configureFlags ++ [ "--without-libidn2" ];
    });
    git = super.git.override { withManual = false; };
    python3Packages = super.python3Packages.overrideScope (pself: psuper:
      listToAttrs (map
        (i: nameValuePair (pyName i) (psuper.${pyName i}.overrideAttrs (old: { doCheck = ""; })))
        (filter (i: mod i 25 == 0) (range 0 (nPy - 1)))));
  }
  // listToAttrs (map
    (i: nameValuePair (libName i) (super.${libName i}.overrideAttrs (old: {
      configureFlags = old.configureFlags ++ [ "--with-fix-${toString i}" ];
    })))
    (filter (i: mod i 10 == 3) (range 0 (nLibs - 1))))
  // listToAttrs (map
    (i: nameValuePair (libName i) (super.${libName i}.override { enableStatic = true; }))
    (filter (i: mod i 10 == 7) (range 0 (nLibs - 1))));

  # a package depending on every other
  topOverlay = self: super: {
    all = self.stdenv.mkDerivation {
      name = "all-packages";
      buildInputs = attrValues (filterAttrs (n: v: n != "all" && isDerivation v) self);
      pythonPackages = filter isDerivation (attrValues self.python3Packages);
    };
  };

  overlays = [ coreOverlay libsOverlay pythonOverlay appsOverlay fixesOverlay topOverlay ];
  mkPkgs = extraOverlays: fix (extends (composeManyExtensions (overlays ++ extraOverlays)) base);

  pkgs = mkPkgs [ ];
  # a second instance with another stdenv: only what is used is evaluated
  pkgsMusl = mkPkgs [
    (self: super: {
      stdenv = super.stdenv // { mkDerivation = a: super.stdenv.mkDerivation (a // { NIX_LIBC = "musl"; }); };
    })
  ];
  # the set without the later fixes
  pkgsUnfixed = fix (extends (composeManyExtensions [ coreOverlay libsOverlay ]) base);

  drvs = filter isDerivation (attrValues pkgs);
  pyDrvs = filter isDerivation (attrValues pkgs.python3Packages);
  app = pkgs.${appName 7};
in
{
  packages = length drvs;
  pythonPackages = length pyDrvs;
  all = pkgs.all.drvPath;
  outPaths = hashString "sha256" (concatMapStringsSep "\n" (p: p.outPath) (drvs ++ pyDrvs));
  drvPaths = hashString "sha256" (concatMapStringsSep "\n" (p: p.drvPath) drvs);
  app = {
    inherit (app) name;
    out = app.outPath;
    man = app.man.outPath;
    context = builtins.getContext "${app} ${app.man} ${app.drvPath}";
  };
  overridden = {
    fix = pkgs.${libName 13}.drvPath;
    static = pkgs.${libName 17}.outPath;
    staticFlags = pkgs.${libName 17}.configureFlags;
    opensslLegacy = pkgs.openssl.hasLegacy;
    opensslChanged = pkgs.openssl.outPath != pkgsUnfixed.openssl.outPath;
    zlibPatches = pkgs.zlib.patches;
    curl = pkgs.curl.drvPath;
    py = pkgs.python3Packages.${pyName 50}.drvPath;
  };
  musl = pkgsMusl.${appName 5}.drvPath;
  stdenv = pkgs.stdenv.outPath;
}
