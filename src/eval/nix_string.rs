//! [`NixString`], the evaluator's string: immutable bytes (not
//! necessarily UTF-8) and a string context, in one counted block. The
//! block starts with the reference count, as a [`Counted`](super::counted)
//! block does, so that [`Value::clone`](super::value::Value) counts a
//! string the same way; then the first eight bytes (for comparisons), the
//! length and the context; then the bytes themselves. A long string that
//! arrives as a buffer of its own (a join, a file's contents) keeps that
//! buffer, so that it is not copied: the block then holds its address.

use std::alloc::Layout;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

use bstr::ByteSlice;

use super::block_pool;
use super::counted;

/// What a string refers to in the store, as C++ Nix's string context:
/// each element is a plain store path (`/nix/store/…`), a derivation with
/// all its outputs (`=/nix/store/….drv`) or one output of a derivation
/// (`!out!/nix/store/….drv`). Ordered, so output is deterministic. The
/// elements are shared: a context passed on from string to string (every
/// interpolation of a derivation) counts references instead of copying
/// store paths.
pub type Context = std::collections::BTreeSet<std::rc::Rc<str>>;

/// The block's start. The bytes follow it, or (for a long string built
/// elsewhere, [`OUT_OF_LINE`] set in `len`) the address of their boxed
/// slice does.
#[repr(C)]
struct Header {
    /// References to the block; first, as in a `Counted` block.
    count: Cell<usize>,
    /// The first eight bytes, big-endian, zero-padded (see [`head_of`]):
    /// comparing names (attribute lookups compare many) mostly needs no
    /// more than this word.
    head: u64,
    /// The bytes' length, with [`OUT_OF_LINE`] when they are boxed.
    len: usize,
    /// `None` for the (common) strings without context.
    context: Option<Box<Context>>,
}

const HEADER: usize = std::mem::size_of::<Header>();
/// In [`Header::len`]: the bytes are a boxed slice of their own.
const OUT_OF_LINE: usize = 1 << (usize::BITS - 1);
/// Longer buffers handed over whole are kept rather than copied.
const COPY_MAX: usize = 512;

/// A Nix string. A thin pointer, so that a [`Value`](super::value::Value)
/// stays two words; neither `Send` nor `Sync` (its count is not atomic).
/// Equality, order and hashing look at the bytes only, as Nix compares
/// strings.
#[repr(transparent)]
pub struct NixString(NonNull<Header>, PhantomData<*const Header>);

/// The room a block keeps for `len` bytes in it: at least a word, so that
/// the head can be read from it.
#[inline(always)]
fn inline_room(len: usize) -> usize {
    len.max(8)
}

/// The layout of the block whose [`Header::len`] is `len`: the header and
/// the bytes' room, or (`OUT_OF_LINE`) the header and their address.
#[inline(always)]
fn layout_for(len: usize) -> Layout {
    if len & OUT_OF_LINE == 0 {
        block_layout(HEADER + inline_room(len))
    } else {
        block_layout(HEADER + std::mem::size_of::<*mut u8>())
    }
}

/// The layout of a block of `size` bytes (header included).
#[inline(always)]
fn block_layout(size: usize) -> Layout {
    // Whole words: blocks of up to 64 bytes come from the block pool,
    // which serves multiples of eight.
    let size = size.next_multiple_of(8);
    match Layout::from_size_align(size, 8) {
        Ok(l) => l,
        Err(_) => std::alloc::handle_alloc_error(Layout::new::<Header>()),
    }
}

#[inline(always)]
fn allocate(layout: Layout) -> NonNull<Header> {
    let p = if block_pool::serves(layout) {
        block_pool::allocate(layout)
    } else {
        // SAFETY: the layout's size is at least the header's, never zero.
        unsafe { std::alloc::alloc(layout) }
    };
    match NonNull::new(p.cast::<Header>()) {
        Some(p) => p,
        None => std::alloc::handle_alloc_error(layout),
    }
}

impl NixString {
    /// A string of `len` bytes that `fill` writes (into a zeroed slice),
    /// with `context` (`None`: none), in one block. The head is read back
    /// from the block, whose first eight bytes are zero past the string's
    /// end: the zero-padding [`head_of`] gives.
    fn filled(
        len: usize,
        context: Option<Box<Context>>,
        fill: impl FnOnce(&mut [u8]),
    ) -> NixString {
        let room = inline_room(len);
        let p = allocate(layout_for(len));
        // SAFETY: a fresh block of the header's size and `room` bytes
        // (at least eight, and at least `len`), zeroed before use.
        unsafe {
            let data = p.as_ptr().cast::<u8>().add(HEADER);
            std::ptr::write_bytes(data, 0, room);
            fill(std::slice::from_raw_parts_mut(data, len));
            let head = u64::from_be_bytes(data.cast::<[u8; 8]>().read());
            p.as_ptr().write(Header {
                count: Cell::new(1),
                head,
                len,
                context,
            });
        }
        NixString(p, PhantomData)
    }

    /// A string of a copy of `bytes`, with `context` (`None`: none).
    fn copied(bytes: &[u8], context: Option<Box<Context>>) -> NixString {
        NixString::filled(bytes.len(), context, |to| to.copy_from_slice(bytes))
    }

    /// A string of `len` bytes that `fill` writes into a zeroed slice
    /// (the parts of an interpolation, say), with `context`: built in
    /// place, without a buffer of its own when it is short.
    pub fn build(len: usize, context: Context, fill: impl FnOnce(&mut [u8])) -> NixString {
        let context = (!context.is_empty()).then(|| Box::new(context));
        if len <= COPY_MAX {
            return NixString::filled(len, context, fill);
        }
        let mut bytes = vec![0; len];
        fill(&mut bytes);
        NixString::owned(bytes, context)
    }

    /// A string of `bytes`: copied into the block when short, else kept
    /// (as a boxed slice: a buffer with spare capacity is shrunk once).
    fn owned(bytes: Vec<u8>, context: Option<Box<Context>>) -> NixString {
        if bytes.len() <= COPY_MAX {
            return NixString::copied(&bytes, context);
        }
        let bytes = bytes.into_boxed_slice();
        let head = head_of(&bytes);
        let len = bytes.len() | OUT_OF_LINE;
        let at = Box::into_raw(bytes).cast::<u8>();
        let p = allocate(layout_for(len));
        // SAFETY: a fresh block of the header's size and an address's.
        unsafe {
            p.as_ptr().write(Header {
                count: Cell::new(1),
                head,
                len,
                context,
            });
            p.as_ptr()
                .cast::<u8>()
                .add(HEADER)
                .cast::<*mut u8>()
                .write(at);
        }
        NixString(p, PhantomData)
    }

    #[inline(always)]
    fn header(&self) -> &Header {
        // SAFETY: the block lives as long as any reference to it.
        unsafe { self.0.as_ref() }
    }

    /// A string with a context (none when `context` is empty).
    pub fn with_context(bytes: impl Into<Vec<u8>>, context: Context) -> NixString {
        NixString::owned(
            bytes.into(),
            (!context.is_empty()).then(|| Box::new(context)),
        )
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        let len = self.header().len;
        // SAFETY: the block's bytes follow the header, or their boxed
        // slice's address does (`OUT_OF_LINE`); both live as long as the
        // block.
        unsafe {
            let after = self.0.as_ptr().cast::<u8>().add(HEADER);
            if len & OUT_OF_LINE == 0 {
                std::slice::from_raw_parts(after, len)
            } else {
                let at = after.cast::<*const u8>().read();
                std::slice::from_raw_parts(at, len & !OUT_OF_LINE)
            }
        }
    }

    /// The string's context, if it has one.
    pub fn context(&self) -> Option<&Context> {
        self.header().context.as_deref()
    }
    pub fn has_context(&self) -> bool {
        self.header().context.is_some()
    }
    /// Adds this string's context to `ctx`.
    #[inline]
    pub fn add_context_to(&self, ctx: &mut Context) {
        if let Some(c) = &self.header().context {
            add_all(ctx, c);
        }
    }
    /// The same bytes without context.
    pub fn without_context(&self) -> NixString {
        if self.has_context() {
            NixString::from(self.as_bytes())
        } else {
            self.clone()
        }
    }
    pub fn to_str_lossy(&self) -> std::borrow::Cow<'_, str> {
        self.as_bytes().to_str_lossy()
    }
    pub fn len(&self) -> usize {
        self.header().len & !OUT_OF_LINE
    }
    /// Whether `self` and `other` are the same block (so equal; names
    /// the compiler wrote are shared, see [`super::symbols::name_string`]).
    #[inline(always)]
    pub fn ptr_eq(&self, other: &NixString) -> bool {
        self.0 == other.0
    }
    /// The first eight bytes as [`head_of`] gives them.
    #[inline]
    pub fn head(&self) -> u64 {
        self.header().head
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the context and frees the block (and the boxed bytes), out
    /// of line: dropping a reference stays a decrement and a test.
    #[inline(never)]
    fn free(&mut self) {
        let p = self.0.as_ptr();
        // SAFETY: the last reference is going: nothing else reaches the
        // block, made by `copied` or `owned` with the layout computed
        // again here.
        unsafe {
            std::ptr::drop_in_place(&mut (*p).context);
            let len = (*p).len;
            if len & OUT_OF_LINE != 0 {
                let at = p.cast::<u8>().add(HEADER).cast::<*mut u8>().read();
                let bytes = std::ptr::slice_from_raw_parts_mut(at, len & !OUT_OF_LINE);
                drop(Box::from_raw(bytes));
            }
            let layout = layout_for(len);
            if block_pool::serves(layout) {
                block_pool::release(p.cast(), layout);
            } else {
                std::alloc::dealloc(p.cast(), layout);
            }
        }
    }
}

/// Adds the elements of `from` to `ctx` (out of line: most strings have
/// no context, and the test for one stays small where it is made).
#[inline(never)]
fn add_all(ctx: &mut Context, from: &Context) {
    ctx.extend(from.iter().cloned());
}

impl Clone for NixString {
    #[inline]
    fn clone(&self) -> NixString {
        // SAFETY: the block of a live reference, its count first.
        unsafe { counted::count_another(self.0.as_ptr().cast()) };
        NixString(self.0, PhantomData)
    }
}

impl Drop for NixString {
    #[inline]
    fn drop(&mut self) {
        if counted::count_one_less(&self.header().count) {
            self.free();
        }
    }
}

impl PartialEq for NixString {
    fn eq(&self, other: &Self) -> bool {
        self.header().head == other.header().head && self.as_bytes() == other.as_bytes()
    }
}
impl Eq for NixString {}
impl PartialOrd for NixString {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for NixString {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        cmp_with_heads(self.head(), self.as_bytes(), other.head(), other.as_bytes())
    }
}

/// The first eight bytes of `s` as a big-endian number, zero-padded. When
/// the heads of two strings differ, they are ordered as the strings are:
/// padding sorts before every byte but zero, and a shorter string before
/// its extensions.
#[inline]
pub fn head_of(s: &[u8]) -> u64 {
    if let Some(head) = s.first_chunk::<8>() {
        return u64::from_be_bytes(*head);
    }
    // Shorter: byte by byte (a copy of variable length would call
    // `memcpy`, which costs what it saves).
    let mut x = 0u64;
    for (i, &c) in s.iter().enumerate() {
        x |= u64::from(c) << (56 - 8 * i);
    }
    x
}

/// Byte-wise (lexicographic) order of `a` and `b` given their heads: most
/// pairs of names are decided by the heads alone.
#[inline]
pub fn cmp_with_heads(ha: u64, a: &[u8], hb: u64, b: &[u8]) -> std::cmp::Ordering {
    match ha.cmp(&hb) {
        std::cmp::Ordering::Equal if a.len() <= 8 && b.len() <= 8 => a.len().cmp(&b.len()),
        std::cmp::Ordering::Equal => a.cmp(b),
        o => o,
    }
}

/// Byte-wise (lexicographic) order, as `<[u8]>::cmp`, deciding most pairs
/// by their first eight bytes without a call to `memcmp`.
#[inline]
pub fn cmp_bytes(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    cmp_with_heads(head_of(a), a, head_of(b), b)
}
/// Names are ordered as their bytes, so maps keyed by names can be
/// searched with bytes.
/// Names are ordered as their bytes, so maps keyed by names can be
/// searched with bytes.
impl std::borrow::Borrow<[u8]> for NixString {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::hash::Hash for NixString {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

/// "00", "01", … "99": the digits of a number below 100, two at a time.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// The decimal digits of `i` (as `toString` and `{}` print an integer),
/// written into `buf` two at a time from the end; answers the part of it
/// they fill.
pub fn int_digits(i: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = i.unsigned_abs();
    let mut at = buf.len();
    while n >= 100 {
        let d = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    }
    if n >= 10 {
        let d = n as usize * 2;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    } else {
        at -= 1;
        buf[at] = b'0' + n as u8;
    }
    if i < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

impl NixString {
    /// `toString i`: one allocation of the digits' size.
    pub fn of_int(i: i64) -> NixString {
        NixString::from(int_digits(i, &mut [0; 20]))
    }
}

impl From<&[u8]> for NixString {
    fn from(b: &[u8]) -> Self {
        NixString::copied(b, None)
    }
}
impl From<Vec<u8>> for NixString {
    fn from(b: Vec<u8>) -> Self {
        NixString::owned(b, None)
    }
}
impl From<&str> for NixString {
    fn from(s: &str) -> Self {
        NixString::from(s.as_bytes())
    }
}
impl From<String> for NixString {
    fn from(s: String) -> Self {
        NixString::from(s.into_bytes())
    }
}

impl fmt::Debug for NixString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_bytes().as_bstr())
    }
}

impl fmt::Display for NixString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_bytes().as_bstr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(s: &NixString) -> usize {
        s.header().count.get()
    }

    #[test]
    fn bytes_come_back_whatever_the_length_and_the_way_in() {
        for n in [0, 1, 7, 8, 9, 56, COPY_MAX, COPY_MAX + 1, 10_000] {
            let bytes: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            let copied = NixString::from(bytes.as_slice());
            let kept = NixString::from(bytes.clone());
            let boxed = NixString::with_context(bytes.clone().into_boxed_slice(), Context::new());
            for s in [&copied, &kept, &boxed] {
                assert_eq!(s.as_bytes(), bytes.as_slice());
                assert_eq!(s.len(), n);
                assert_eq!(s.is_empty(), n == 0);
                assert_eq!(s.head(), head_of(&bytes));
                assert!(!s.has_context());
                assert_eq!(*s, copied);
                assert_eq!(s.cmp(&copied), std::cmp::Ordering::Equal);
            }
        }
    }

    #[test]
    fn built_strings_are_their_parts() {
        for n in [0, 3, 8, 20, COPY_MAX, COPY_MAX + 1, 3000] {
            let want: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            let s = NixString::build(n, Context::new(), |buf| buf.copy_from_slice(&want));
            assert_eq!(s.as_bytes(), want.as_slice());
            assert_eq!(s.head(), head_of(&want));
            assert!(!s.has_context());
        }
        let mut ctx = Context::new();
        ctx.insert("/nix/store/bbbb-y".into());
        let s = NixString::build(2, ctx.clone(), |buf| buf.copy_from_slice(b"ab"));
        assert_eq!(s.context(), Some(&ctx));
    }

    #[test]
    fn long_buffers_are_kept_and_short_ones_copied() {
        let long = vec![b'x'; COPY_MAX + 1];
        let at = long.as_ptr();
        assert_eq!(NixString::from(long).as_bytes().as_ptr(), at);
        let short = vec![b'x'; COPY_MAX];
        let at = short.as_ptr();
        assert_ne!(NixString::from(short).as_bytes().as_ptr(), at);
    }

    #[test]
    fn clones_share_the_block_and_drops_give_back() {
        let s = NixString::from("shared");
        let t = s.clone();
        assert_eq!(count(&s), 2);
        assert_eq!(s.as_bytes().as_ptr(), t.as_bytes().as_ptr());
        let v = super::super::value::Value::String(s.clone());
        let copies: Vec<_> = (0..3).map(|_| v.clone()).collect();
        assert_eq!(count(&s), 6);
        drop(copies);
        drop(v);
        drop(t);
        assert_eq!(count(&s), 1);
    }

    #[test]
    fn context_stays_with_the_string() {
        let mut ctx = Context::new();
        ctx.insert("/nix/store/aaaa-x".into());
        for n in [3, COPY_MAX + 10] {
            let s = NixString::with_context(vec![b'a'; n], ctx.clone());
            assert_eq!(s.context(), Some(&ctx));
            let mut got = Context::new();
            s.clone().add_context_to(&mut got);
            assert_eq!(got, ctx);
            let plain = s.without_context();
            assert!(!plain.has_context());
            assert_eq!(plain, s);
        }
        assert!(!NixString::with_context(b"x".to_vec(), Context::new()).has_context());
    }

    #[test]
    fn a_short_string_is_one_small_block() {
        assert_eq!(HEADER, 32);
        assert_eq!(layout_for(12).size(), 48);
        assert_eq!(layout_for(0).size(), 40);
        assert_eq!(layout_for((COPY_MAX + 1) | OUT_OF_LINE).size(), 40);
        assert_eq!(std::mem::size_of::<NixString>(), 8);
        assert_eq!(std::mem::size_of::<Option<NixString>>(), 8);
    }
}
