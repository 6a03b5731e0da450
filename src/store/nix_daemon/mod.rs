//! A client of C++ Nix's daemon (`nix-daemon`), speaking its worker
//! protocol as Nix 2.8 does (protocol 1.34; an older or newer daemon is
//! met at the lower of the two versions): the handshake, the daemon's log
//! messages relayed to stderr, queries, adding texts and NARs, temporary
//! and indirect roots, builds, and the daemon's own checks and
//! optimisation of its store. This is how an unprivileged user of a
//! multi-user Nix installation reaches the store.

pub mod wire;

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::local::ValidPathInfo;
use super::StoreError;
use crate::hash::{Hash, HashAlgo};
use crate::store_path::{StoreDir, StorePath};
use wire::*;

/// The protocol version we speak (major 1, minor 34: Nix 2.8).
pub const PROTOCOL_VERSION: u64 = (1 << 8) | 34;
/// Where a multi-user installation's daemon listens.
pub const DEFAULT_SOCKET: &str = "/nix/var/nix/daemon-socket/socket";

const WORKER_MAGIC_1: u64 = 0x6e69_7863;
const WORKER_MAGIC_2: u64 = 0x6478_696f;

const STDERR_NEXT: u64 = 0x6f6c_6d67;
const STDERR_READ: u64 = 0x6461_7461;
const STDERR_WRITE: u64 = 0x6461_7416;
const STDERR_LAST: u64 = 0x616c_7473;
const STDERR_ERROR: u64 = 0x6378_7470;
const STDERR_START_ACTIVITY: u64 = 0x5354_5254;
const STDERR_STOP_ACTIVITY: u64 = 0x5354_4f50;
const STDERR_RESULT: u64 = 0x5253_4c54;

/// The operations used here.
mod op {
    pub(super) const IS_VALID_PATH: u64 = 1;
    pub(super) const QUERY_REFERRERS: u64 = 6;
    pub(super) const ADD_TO_STORE: u64 = 7;
    pub(super) const ADD_TEXT_TO_STORE: u64 = 8;
    pub(super) const BUILD_PATHS: u64 = 9;
    pub(super) const ADD_TEMP_ROOT: u64 = 11;
    pub(super) const ADD_INDIRECT_ROOT: u64 = 12;
    pub(super) const FIND_ROOTS: u64 = 14;
    pub(super) const SET_OPTIONS: u64 = 19;
    pub(super) const COLLECT_GARBAGE: u64 = 20;
    pub(super) const QUERY_ALL_VALID_PATHS: u64 = 23;
    pub(super) const QUERY_PATH_INFO: u64 = 26;
    pub(super) const QUERY_VALID_DERIVERS: u64 = 33;
    pub(super) const OPTIMISE_STORE: u64 = 34;
    pub(super) const VERIFY_STORE: u64 = 35;
    pub(super) const NAR_FROM_PATH: u64 = 38;
    pub(super) const ADD_TO_STORE_NAR: u64 = 39;
}

/// `resBuildLogLine`: a line of a build's output.
const RESULT_BUILD_LOG_LINE: u64 = 101;

fn minor(v: u64) -> u64 {
    v & 0xff
}

fn proto(e: io::Error) -> StoreError {
    StoreError::Daemon(format!("talking to the Nix daemon: {e}"))
}

/// A connection to a Nix daemon.
pub struct DaemonClient {
    reader: BufReader<Box<dyn Read + Send>>,
    writer: BufWriter<Box<dyn Write + Send>>,
    /// The protocol version both sides speak.
    pub version: u64,
    /// The daemon's Nix version (protocol 1.33 and later).
    pub daemon_nix_version: Option<String>,
    pub store_dir: StoreDir,
    child: Option<Child>,
}

impl DaemonClient {
    /// Connects to the daemon listening on `socket`.
    pub fn connect(socket: &Path, store_dir: StoreDir) -> Result<DaemonClient, StoreError> {
        let stream = UnixStream::connect(socket).map_err(|e| {
            StoreError::Daemon(format!(
                "cannot connect to socket at '{}': {}",
                socket.display(),
                crate::os_error::message(&e)
            ))
        })?;
        let read = stream.try_clone().map_err(proto)?;
        Self::handshake(Box::new(read), Box::new(stream), store_dir, None)
    }

    /// Runs `command` (a `nix-daemon --stdio`) and talks to it over its
    /// standard input and output.
    pub fn spawn(mut command: Command, store_dir: StoreDir) -> Result<DaemonClient, StoreError> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| StoreError::Daemon(format!("starting the Nix daemon: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(StoreError::Daemon("the Nix daemon has no pipes".into()));
        };
        Self::handshake(Box::new(stdout), Box::new(stdin), store_dir, Some(child))
    }

    fn handshake(
        read: Box<dyn Read + Send>,
        write: Box<dyn Write + Send>,
        store_dir: StoreDir,
        child: Option<Child>,
    ) -> Result<DaemonClient, StoreError> {
        let mut c = DaemonClient {
            reader: BufReader::with_capacity(64 << 10, read),
            writer: BufWriter::with_capacity(64 << 10, write),
            version: PROTOCOL_VERSION,
            daemon_nix_version: None,
            store_dir,
            child,
        };
        write_u64(&mut c.writer, WORKER_MAGIC_1).map_err(proto)?;
        c.writer.flush().map_err(proto)?;
        if read_u64(&mut c.reader).map_err(proto)? != WORKER_MAGIC_2 {
            return Err(StoreError::Daemon("protocol mismatch".into()));
        }
        let theirs = read_u64(&mut c.reader).map_err(proto)?;
        if theirs >> 8 != 1 || minor(theirs) < 10 {
            return Err(StoreError::Daemon(
                "Nix daemon protocol version not supported".into(),
            ));
        }
        c.version = theirs.min(PROTOCOL_VERSION);
        write_u64(&mut c.writer, PROTOCOL_VERSION).map_err(proto)?;
        if minor(c.version) >= 14 {
            // No CPU affinity.
            write_u64(&mut c.writer, 0).map_err(proto)?;
        }
        if minor(c.version) >= 11 {
            // No space reserved.
            write_u64(&mut c.writer, 0).map_err(proto)?;
        }
        c.writer.flush().map_err(proto)?;
        if minor(c.version) >= 33 {
            c.daemon_nix_version = Some(read_string(&mut c.reader).map_err(proto)?);
        }
        c.process_stderr()?;
        Ok(c)
    }

    fn start(&mut self, op: u64) -> Result<(), StoreError> {
        write_u64(&mut self.writer, op).map_err(proto)
    }

    /// Sends what is written and relays the daemon's messages until it
    /// has done the work (or failed).
    fn finish(&mut self) -> Result<(), StoreError> {
        self.writer.flush().map_err(proto)?;
        self.process_stderr()
    }

    fn process_stderr(&mut self) -> Result<(), StoreError> {
        let r = &mut self.reader;
        loop {
            match read_u64(r).map_err(proto)? {
                STDERR_LAST => return Ok(()),
                STDERR_NEXT => {
                    let line = read_bytes(r).map_err(proto)?;
                    let line = String::from_utf8_lossy(&line);
                    relay(line.trim_end_matches('\n'));
                }
                STDERR_ERROR => {
                    let message = if minor(self.version) >= 26 {
                        read_error(r).map_err(proto)?
                    } else {
                        let msg = read_string(r).map_err(proto)?;
                        read_u64(r).map_err(proto)?;
                        msg
                    };
                    return Err(StoreError::Daemon(strip_ansi(&message)));
                }
                STDERR_START_ACTIVITY => {
                    let _id = read_u64(r).map_err(proto)?;
                    let level = read_u64(r).map_err(proto)?;
                    let _kind = read_u64(r).map_err(proto)?;
                    let text = read_string(r).map_err(proto)?;
                    read_fields(r).map_err(proto)?;
                    let _parent = read_u64(r).map_err(proto)?;
                    // Shown as C++ Nix's simple logger shows them at the
                    // client's verbosity: the text and "...".
                    if level <= crate::log::verbosity() && !text.is_empty() {
                        relay(&format!("{text}..."));
                    }
                }
                STDERR_STOP_ACTIVITY => {
                    read_u64(r).map_err(proto)?;
                }
                STDERR_RESULT => {
                    let _id = read_u64(r).map_err(proto)?;
                    let kind = read_u64(r).map_err(proto)?;
                    let fields = read_fields(r).map_err(proto)?;
                    if kind == RESULT_BUILD_LOG_LINE {
                        if let Some(Field::Str(line)) = fields.first() {
                            relay(line);
                        }
                    }
                }
                STDERR_READ | STDERR_WRITE => {
                    return Err(StoreError::Daemon(
                        "the Nix daemon asked for a data exchange oxnix does not use".into(),
                    ))
                }
                other => {
                    return Err(StoreError::Daemon(format!(
                        "the Nix daemon sent an unknown message {other:#x}"
                    )))
                }
            }
        }
    }

    fn path(&self, s: &str) -> Result<StorePath, StoreError> {
        self.store_dir
            .parse_path(s)
            .map_err(|e| StoreError::Daemon(format!("the Nix daemon sent a bad store path: {e}")))
    }

    fn paths(&self, v: Vec<String>) -> Result<BTreeSet<StorePath>, StoreError> {
        v.iter().map(|s| self.path(s)).collect()
    }

    pub fn is_valid_path(&mut self, path: &StorePath) -> Result<bool, StoreError> {
        self.start(op::IS_VALID_PATH)?;
        write_bytes(&mut self.writer, self.store_dir.print(path).as_bytes()).map_err(proto)?;
        self.finish()?;
        read_bool(&mut self.reader).map_err(proto)
    }

    /// The metadata of `path`, or `None` when it is not valid.
    pub fn query_path_info(
        &mut self,
        path: &StorePath,
    ) -> Result<Option<ValidPathInfo>, StoreError> {
        self.start(op::QUERY_PATH_INFO)?;
        write_bytes(&mut self.writer, self.store_dir.print(path).as_bytes()).map_err(proto)?;
        match self.finish() {
            Ok(()) => {}
            // Daemons before 1.17 answer an invalid path with an error.
            Err(StoreError::Daemon(m))
                if minor(self.version) < 17 && m.contains("is not valid") =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        }
        if minor(self.version) >= 17 && !read_bool(&mut self.reader).map_err(proto)? {
            return Ok(None);
        }
        self.read_path_info(path.clone()).map(Some)
    }

    /// A path info as the daemon sends it after the path itself.
    fn read_path_info(&mut self, path: StorePath) -> Result<ValidPathInfo, StoreError> {
        let r = &mut self.reader;
        let deriver = read_string(r).map_err(proto)?;
        let hash = read_string(r).map_err(proto)?;
        let references = read_strings(r).map_err(proto)?;
        let registration_time = read_u64(r).map_err(proto)?;
        let nar_size = read_u64(r).map_err(proto)?;
        let (mut ultimate, mut signatures, mut ca) = (false, Vec::new(), None);
        if minor(self.version) >= 16 {
            ultimate = read_bool(r).map_err(proto)?;
            signatures = read_strings(r).map_err(proto)?;
            let c = read_string(r).map_err(proto)?;
            ca = (!c.is_empty()).then_some(c);
        }
        let nar_hash = Hash::parse_any(&hash, Some(HashAlgo::Sha256))
            .map_err(|e| StoreError::Daemon(format!("the Nix daemon sent a bad NAR hash: {e}")))?;
        Ok(ValidPathInfo {
            path,
            nar_hash,
            nar_size,
            references: self.paths(references)?,
            deriver: if deriver.is_empty() {
                None
            } else {
                Some(self.path(&deriver)?)
            },
            registration_time,
            ultimate,
            signatures,
            ca,
        })
    }

    fn query_paths(
        &mut self,
        op: u64,
        path: Option<&StorePath>,
    ) -> Result<BTreeSet<StorePath>, StoreError> {
        self.start(op)?;
        if let Some(p) = path {
            write_bytes(&mut self.writer, self.store_dir.print(p).as_bytes()).map_err(proto)?;
        }
        self.finish()?;
        let v = read_strings(&mut self.reader).map_err(proto)?;
        self.paths(v)
    }

    pub fn query_referrers(&mut self, path: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        self.query_paths(op::QUERY_REFERRERS, Some(path))
    }

    pub fn query_valid_derivers(
        &mut self,
        path: &StorePath,
    ) -> Result<BTreeSet<StorePath>, StoreError> {
        self.query_paths(op::QUERY_VALID_DERIVERS, Some(path))
    }

    pub fn query_all_valid_paths(&mut self) -> Result<BTreeSet<StorePath>, StoreError> {
        self.query_paths(op::QUERY_ALL_VALID_PATHS, None)
    }

    /// Adds a text file with references (`toFile`, a `.drv`).
    pub fn add_text(
        &mut self,
        name: &str,
        text: &[u8],
        references: &BTreeSet<StorePath>,
    ) -> Result<StorePath, StoreError> {
        self.start(op::ADD_TEXT_TO_STORE)?;
        write_bytes(&mut self.writer, name.as_bytes()).map_err(proto)?;
        write_bytes(&mut self.writer, text).map_err(proto)?;
        let refs: Vec<String> = references.iter().map(|r| self.store_dir.print(r)).collect();
        write_strings(&mut self.writer, refs.iter().map(String::as_str)).map_err(proto)?;
        self.finish()?;
        let p = read_string(&mut self.reader).map_err(proto)?;
        self.path(&p)
    }

    /// Adds the tree serialised in `nar` as a content-addressed path named
    /// `name`, the daemon computing its hash (`method`: `fixed:r:sha256`,
    /// `fixed:sha1`, …). Needs protocol 1.25.
    pub fn add_ca_nar(
        &mut self,
        name: &str,
        method: &str,
        nar: &mut dyn Read,
    ) -> Result<ValidPathInfo, StoreError> {
        self.add_to_store(name, method, &BTreeSet::new(), false, nar)
    }

    /// `AddToStore` as protocol 1.25 has it: adds `data` as a
    /// content-addressed path named `name` with `references` (`method`:
    /// `text:sha256` for a text, whose `data` is its contents; `fixed:r:…`
    /// for a NAR; `fixed:…` for a flat file's contents), the daemon
    /// computing its hash; with `repair`, a valid path's files are written
    /// again.
    pub fn add_to_store(
        &mut self,
        name: &str,
        method: &str,
        references: &BTreeSet<StorePath>,
        repair: bool,
        data: &mut dyn Read,
    ) -> Result<ValidPathInfo, StoreError> {
        if minor(self.version) < 25 {
            return Err(StoreError::Daemon(
                "not supported yet: adding paths through a Nix daemon older than 2.4".into(),
            ));
        }
        self.start(op::ADD_TO_STORE)?;
        let refs: Vec<String> = references.iter().map(|r| self.store_dir.print(r)).collect();
        write_bytes(&mut self.writer, name.as_bytes()).map_err(proto)?;
        write_bytes(&mut self.writer, method.as_bytes()).map_err(proto)?;
        write_strings(&mut self.writer, refs.iter().map(String::as_str)).map_err(proto)?;
        write_bool(&mut self.writer, repair).map_err(proto)?;
        {
            let mut framed = FramedWriter::new(&mut self.writer);
            io::copy(data, &mut framed).map_err(proto)?;
            framed.finish().map_err(proto)?;
        }
        self.finish()?;
        let p = read_string(&mut self.reader).map_err(proto)?;
        let path = self.path(&p)?;
        self.read_path_info(path)
    }

    /// Adds a path with the metadata `info` and the NAR read from `nar`
    /// (`--import`). The daemon checks the NAR against the hash; an
    /// untrusted user's path also needs a trusted signature. Needs protocol
    /// 1.23.
    pub fn add_to_store_nar(
        &mut self,
        info: &ValidPathInfo,
        nar: &mut dyn Read,
    ) -> Result<(), StoreError> {
        if minor(self.version) < 23 {
            return Err(StoreError::Daemon(
                "not supported yet: importing through a Nix daemon older than 2.4".into(),
            ));
        }
        self.start(op::ADD_TO_STORE_NAR)?;
        let print = |p: &StorePath| self.store_dir.print(p);
        let path = print(&info.path);
        let deriver = info.deriver.as_ref().map(print).unwrap_or_default();
        let refs: Vec<String> = info.references.iter().map(print).collect();
        let w = &mut self.writer;
        write_bytes(w, path.as_bytes()).map_err(proto)?;
        write_bytes(w, deriver.as_bytes()).map_err(proto)?;
        write_bytes(
            w,
            info.nar_hash
                .encode(crate::hash::HashFormat::Base16)
                .as_bytes(),
        )
        .map_err(proto)?;
        write_strings(w, refs.iter().map(String::as_str)).map_err(proto)?;
        write_u64(w, info.registration_time).map_err(proto)?;
        write_u64(w, info.nar_size).map_err(proto)?;
        write_bool(w, info.ultimate).map_err(proto)?;
        write_strings(w, info.signatures.iter().map(String::as_str)).map_err(proto)?;
        write_bytes(w, info.ca.as_deref().unwrap_or_default().as_bytes()).map_err(proto)?;
        // Not a repair; signatures not checked, as C++ Nix's `--import`
        // asks (the daemon checks them anyway for an untrusted user).
        write_bool(w, false).map_err(proto)?;
        write_bool(w, true).map_err(proto)?;
        {
            let mut framed = FramedWriter::new(&mut self.writer);
            io::copy(nar, &mut framed).map_err(proto)?;
            framed.finish().map_err(proto)?;
        }
        self.finish()
    }

    /// Writes the NAR of a valid path to `out`.
    pub fn nar_from_path(
        &mut self,
        path: &StorePath,
        out: &mut dyn Write,
    ) -> Result<(), StoreError> {
        // A daemon asked for the NAR of an invalid path starts the NAR
        // before its error, which then cannot be told from NAR data.
        if !self.is_valid_path(path)? {
            return Err(StoreError::NotValid(self.store_dir.print(path)));
        }
        self.start(op::NAR_FROM_PATH)?;
        write_bytes(&mut self.writer, self.store_dir.print(path).as_bytes()).map_err(proto)?;
        self.finish()?;
        // The NAR follows unframed: parse it to find its end, copying.
        let mut tee = TeeBufRead {
            inner: &mut self.reader,
            out,
            error: None,
        };
        let parsed =
            crate::nar::reader::parse_buffered(&mut tee, &mut crate::nar::reader::Validate);
        if let Some(e) = tee.error {
            return Err(StoreError::Write(e));
        }
        parsed.map_err(|e| StoreError::Daemon(format!("the Nix daemon sent a bad NAR: {e}")))
    }

    fn simple_path_op(&mut self, op: u64, arg: &str) -> Result<(), StoreError> {
        self.start(op)?;
        write_bytes(&mut self.writer, arg.as_bytes()).map_err(proto)?;
        self.finish()?;
        read_u64(&mut self.reader).map_err(proto)?;
        Ok(())
    }

    /// Keeps `path` from the garbage collector while this connection lasts.
    pub fn add_temp_root(&mut self, path: &StorePath) -> Result<(), StoreError> {
        let p = self.store_dir.print(path);
        self.simple_path_op(op::ADD_TEMP_ROOT, &p)
    }

    /// Registers the symlink `link` (absolute) as a garbage collector root.
    pub fn add_indirect_root(&mut self, link: &Path) -> Result<(), StoreError> {
        let l = link.to_string_lossy().into_owned();
        self.simple_path_op(op::ADD_INDIRECT_ROOT, &l)
    }

    /// Builds (or substitutes) `paths`, each a store path or, for a
    /// derivation's outputs, `DRV!out1,out2` (protocol 1.30; older daemons
    /// take `DRV!out1,out2` too since it is what they call a path with
    /// outputs).
    pub fn build_paths(&mut self, paths: &[String]) -> Result<(), StoreError> {
        self.start(op::BUILD_PATHS)?;
        write_strings(&mut self.writer, paths.iter().map(String::as_str)).map_err(proto)?;
        if minor(self.version) >= 15 {
            // bmNormal.
            write_u64(&mut self.writer, 0).map_err(proto)?;
        }
        self.finish()?;
        read_u64(&mut self.reader).map_err(proto)?;
        Ok(())
    }

    /// The daemon's garbage collector roots: (link, store path) pairs.
    pub fn find_roots(&mut self) -> Result<Vec<(String, StorePath)>, StoreError> {
        self.start(op::FIND_ROOTS)?;
        self.finish()?;
        let n = read_u64(&mut self.reader).map_err(proto)?;
        if n > MAX_LIST {
            return Err(StoreError::Daemon(format!("the Nix daemon sent {n} roots")));
        }
        let mut roots = Vec::new();
        for _ in 0..n {
            let link = read_string(&mut self.reader).map_err(proto)?;
            let target = read_string(&mut self.reader).map_err(proto)?;
            roots.push((link, self.path(&target)?));
        }
        Ok(roots)
    }

    /// Has the daemon's collector run: `action` 0 returns the live paths,
    /// 1 the dead ones, 2 deletes the dead ones, 3 deletes `paths`. Answers
    /// the paths (returned or deleted) and the bytes freed.
    pub fn collect_garbage(
        &mut self,
        action: u64,
        paths: &BTreeSet<StorePath>,
        ignore_liveness: bool,
        max_freed: u64,
    ) -> Result<(Vec<String>, u64), StoreError> {
        self.start(op::COLLECT_GARBAGE)?;
        write_u64(&mut self.writer, action).map_err(proto)?;
        let printed: Vec<String> = paths.iter().map(|p| self.store_dir.print(p)).collect();
        write_strings(&mut self.writer, printed.iter().map(String::as_str)).map_err(proto)?;
        write_bool(&mut self.writer, ignore_liveness).map_err(proto)?;
        write_u64(&mut self.writer, max_freed).map_err(proto)?;
        // Three obsolete fields.
        for _ in 0..3 {
            write_u64(&mut self.writer, 0).map_err(proto)?;
        }
        self.finish()?;
        let found = read_strings(&mut self.reader).map_err(proto)?;
        let freed = read_u64(&mut self.reader).map_err(proto)?;
        read_u64(&mut self.reader).map_err(proto)?;
        Ok((found, freed))
    }

    /// `VerifyStore`: the daemon checks that every valid path is there
    /// (with `check_contents`, that its files have the recorded NAR hash;
    /// with `repair`, a trusted user's, that it fixes what it can),
    /// sending its findings as messages. Answers whether errors remain.
    pub fn verify_store(&mut self, check_contents: bool, repair: bool) -> Result<bool, StoreError> {
        self.start(op::VERIFY_STORE)?;
        write_bool(&mut self.writer, check_contents).map_err(proto)?;
        write_bool(&mut self.writer, repair).map_err(proto)?;
        self.finish()?;
        read_bool(&mut self.reader).map_err(proto)
    }

    /// `OptimiseStore`: the daemon hard-links identical files of its
    /// store, saying what it freed as a message.
    pub fn optimise_store(&mut self) -> Result<(), StoreError> {
        self.start(op::OPTIMISE_STORE)?;
        self.finish()?;
        read_u64(&mut self.reader).map_err(proto)?;
        Ok(())
    }

    /// Passes the client's settings (C++ Nix sends them first on every
    /// connection): verbosity ([`crate::log::verbosity`]) and the
    /// `name = value` overrides given.
    pub fn set_options(&mut self, overrides: &[(String, String)]) -> Result<(), StoreError> {
        self.start(op::SET_OPTIONS)?;
        let w = &mut self.writer;
        for v in [
            0u64, // keepFailed
            0,    // keepGoing
            0,    // tryFallback
            crate::log::verbosity(),
            1, // maxBuildJobs
            0, // maxSilentTime
            1, // useBuildHook (obsolete)
            0, // verboseBuild: error level
            0, // logType (obsolete)
            0, // printBuildTrace (obsolete)
            0, // buildCores: all
            1, // useSubstitutes
        ] {
            write_u64(w, v).map_err(proto)?;
        }
        if minor(self.version) >= 12 {
            write_u64(w, overrides.len() as u64).map_err(proto)?;
            for (k, v) in overrides {
                write_bytes(w, k.as_bytes()).map_err(proto)?;
                write_bytes(w, v.as_bytes()).map_err(proto)?;
            }
        }
        self.finish()
    }
}

impl Drop for DaemonClient {
    fn drop(&mut self) {
        let _ = self.writer.flush();
        if let Some(mut child) = self.child.take() {
            // Closing its input ends a `--stdio` daemon.
            self.writer = BufWriter::new(Box::new(io::sink()));
            let _ = child.wait();
        }
    }
}

/// A value of an activity's or result's fields.
enum Field {
    Int,
    Str(String),
}

fn read_fields(r: &mut dyn Read) -> io::Result<Vec<Field>> {
    let n = read_u64(r)?;
    if n > 1024 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "too many fields",
        ));
    }
    (0..n)
        .map(|_| match read_u64(r)? {
            0 => read_u64(r).map(|_| Field::Int),
            1 => read_string(r).map(Field::Str),
            t => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown field type {t}"),
            )),
        })
        .collect()
}

/// An error as protocol 1.26 and later send it; its message (and traces).
fn read_error(r: &mut dyn Read) -> io::Result<String> {
    let kind = read_string(r)?;
    if kind != "Error" {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "malformed error",
        ));
    }
    let _level = read_u64(r)?;
    let _name = read_string(r)?;
    let mut msg = read_string(r)?;
    let _have_pos = read_u64(r)?;
    let traces = read_u64(r)?;
    if traces > 1024 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "too many traces",
        ));
    }
    for _ in 0..traces {
        let _have_pos = read_u64(r)?;
        let t = read_string(r)?;
        msg.push_str("\n… ");
        msg.push_str(&t);
    }
    Ok(msg)
}

/// Writes a line from the daemon to our stderr.
fn relay(line: &str) {
    crate::log::message(crate::log::Level::Error, &strip_ansi(line));
}

/// `s` without ANSI escape sequences (C++ Nix colours its messages).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A buffered reader that copies every byte consumed to `out`.
pub(crate) struct TeeBufRead<'a, R: BufRead> {
    pub(crate) inner: &'a mut R,
    pub(crate) out: &'a mut dyn Write,
    pub(crate) error: Option<io::Error>,
}

impl<R: BufRead> Read for TeeBufRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for TeeBufRead<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        if self.error.is_none() {
            if let Ok(buf) = self.inner.fill_buf() {
                if let Err(e) = self.out.write_all(&buf[..n.min(buf.len())]) {
                    self.error = Some(e);
                }
            }
        }
        self.inner.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_escapes_are_stripped() {
        assert_eq!(
            strip_ansi("\x1b[31;1merror:\x1b[0m path '\x1b[35;1m/x\x1b[0m'"),
            "error: path '/x'"
        );
    }
}
