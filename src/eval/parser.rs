//! The parser: rnix's tokens into rnix's syntax tree (the node kinds and
//! shapes `rnix::ast` expects), with C++ Nix's grammar and its errors.
//!
//! rnix's own parser recovers from errors (we only need the first), stops
//! at 512 nested expressions, accepts some programs C++ Nix rejects (`(1;`,
//! `f x: x`) and reports errors in its own terms. This one stops at the
//! first error and words it as C++ Nix 2.8's bison parser does: `syntax
//! error, unexpected X, expecting Y` with bison's token names, `expecting`
//! only where bison's state (after its default reductions) has at most
//! four tokens, at the offending token, or for the end of the input at the
//! start of the last lexeme (whitespace and comments included), as C++ Nix
//! locates it. Nesting is limited as bison's 10000-entry stack limits it
//! ("memory exhausted"), never by the Rust stack: each nesting level costs
//! bison at least one entry and costs us one unit.

use rnix::SyntaxKind::{self, *};
use rowan::{Checkpoint, GreenNodeBuilder, Language};

/// A syntax error: C++ Nix's message and the byte offset it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub offset: usize,
}

/// Nesting units allowed; bison's stack holds 10000 entries and every unit
/// here costs it at least one.
const MAX_DEPTH: u32 = 10_000;

type R<T> = Result<T, SyntaxError>;

/// Whether rnix's error token `text` is a path (or a path's part after
/// an interpolation) that ends in a slash: `./a/`, `/a/`, `~/a/`, the
/// `/` of `./a/${x}/`.
fn is_path_with_trailing_slash(text: &str) -> bool {
    let body = text.strip_prefix('~').unwrap_or(text);
    body.ends_with('/')
        && !body.contains("//")
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+/".contains(&b))
}

/// Parses `text` into an `rnix::Root`, or the first syntax error.
pub fn parse(text: &str) -> Result<rnix::Root, SyntaxError> {
    if u32::try_from(text.len()).is_err() {
        return Err(SyntaxError {
            message: "not yet supported: a Nix file of 4 GiB or more".into(),
            offset: 0,
        });
    }
    // About one token per 3 bytes of Nix; capacity that is never written
    // costs address space, not memory.
    let mut toks = Vec::with_capacity(text.len() / 2 + 16);
    let mut at = 0u32;
    for (kind, s) in rnix::tokenize(text) {
        if kind == TOKEN_ERROR && s.starts_with("/*") {
            // An unterminated comment: C++ Nix's lexer reads `/` and `*`,
            // one of which is the syntax error.
            toks.push(Lexeme {
                kind: TOKEN_DIV,
                start: at,
            });
            toks.push(Lexeme {
                kind: TOKEN_MUL,
                start: at + 1,
            });
            toks.push(Lexeme {
                kind: TOKEN_ERROR,
                start: at + 2,
            });
        } else {
            toks.push(Lexeme { kind, start: at });
        }
        // (Fits: the whole text's length does.)
        at += s.len() as u32;
    }
    let mut p = Parser {
        text,
        toks,
        pos: 0,
        builder: GreenNodeBuilder::new(),
        depth: 0,
        empty_braces_follow: None,
        string_stack: Vec::new(),
    };
    p.builder.start_node(raw(NODE_ROOT));
    p.parse_expr()?;
    if p.peek().is_some() {
        return Err(p.unexpected(&["end of file"]));
    }
    p.emit_trivia(p.toks.len());
    p.builder.finish_node();
    let green = p.builder.finish();
    let root = rnix::SyntaxNode::new_root(green);
    Ok(<rnix::Root as rowan::ast::AstNode>::cast(root).expect("the parser builds a root"))
}

fn raw(kind: SyntaxKind) -> rowan::SyntaxKind {
    rnix::NixLanguage::kind_to_raw(kind)
}

#[derive(Clone, Copy)]
struct Tok<'a> {
    kind: SyntaxKind,
    text: &'a str,
    start: usize,
}

/// A token as the parser keeps it (8 bytes: a file has about one per 3
/// bytes of text): its text runs to the next token's start.
#[derive(Clone, Copy)]
struct Lexeme {
    kind: SyntaxKind,
    start: u32,
}

struct Parser<'a> {
    text: &'a str,
    /// Every token, trivia included.
    toks: Vec<Lexeme>,
    /// The next token not yet in the tree (perhaps trivia).
    pos: usize,
    builder: GreenNodeBuilder<'static>,
    depth: u32,
    /// The token after an empty `{ }` that starts an expression: C++ Nix's
    /// GLR parser still considers `{ }` a function's formals there, so an
    /// error at that token expects `:` or `@`.
    empty_braces_follow: Option<usize>,
    /// Open strings, innermost last: true for an indented string.
    string_stack: Vec<bool>,
}

/// Tokens that start an attribute name (`attr` or `string_attr`).
fn starts_attr(t: Tok) -> bool {
    matches!(t.kind, TOKEN_IDENT | TOKEN_OR | TOKEN_INTERPOL_START)
        || (t.kind == TOKEN_STRING_START && t.text == "\"")
}

const ATTR_EXPECTED: &[&str] = &["ID", "OR_KW", "DOLLAR_CURLY", "'\"'"];

impl<'a> Parser<'a> {
    /// Token `i`, if there is one.
    fn tok(&self, i: usize) -> Option<Tok<'a>> {
        let l = self.toks.get(i)?;
        let end = self
            .toks
            .get(i + 1)
            .map_or(self.text.len(), |n| n.start as usize);
        Some(Tok {
            kind: l.kind,
            text: &self.text[l.start as usize..end],
            start: l.start as usize,
        })
    }

    /// The kind of token `i`, if there is one.
    fn kind_at(&self, i: usize) -> Option<SyntaxKind> {
        self.toks.get(i).map(|l| l.kind)
    }

    /// Index of the next significant token at or after `from`.
    fn next_significant(&self, from: usize) -> usize {
        let mut i = from;
        while i < self.toks.len() && self.toks[i].kind.is_trivia() {
            i += 1;
        }
        i
    }

    fn peek_index(&self) -> usize {
        self.next_significant(self.pos)
    }

    fn peek_tok(&self) -> Option<Tok<'a>> {
        self.tok(self.peek_index())
    }

    fn peek(&self) -> Option<SyntaxKind> {
        self.kind_at(self.peek_index())
    }

    /// The `n`th significant token after the next one.
    fn peek_nth(&self, n: usize) -> Option<Tok<'a>> {
        let mut i = self.peek_index();
        for _ in 0..n {
            i = self.next_significant(i + 1);
        }
        self.tok(i)
    }

    fn emit_trivia(&mut self, upto: usize) {
        while self.pos < upto {
            let Some(t) = self.tok(self.pos) else { break };
            self.builder.token(raw(t.kind), t.text);
            self.pos += 1;
        }
    }

    /// Adds the next significant token (and the trivia before it).
    fn bump(&mut self) {
        self.bump_as(None);
    }

    fn bump_as(&mut self, kind: Option<SyntaxKind>) {
        let i = self.peek_index();
        self.emit_trivia(i);
        if let Some(t) = self.tok(i) {
            self.builder.token(raw(kind.unwrap_or(t.kind)), t.text);
            self.pos = i + 1;
        }
    }

    fn start_node(&mut self, kind: SyntaxKind) {
        let i = self.peek_index();
        self.emit_trivia(i);
        self.builder.start_node(raw(kind));
    }

    fn checkpoint(&mut self) -> Checkpoint {
        let i = self.peek_index();
        self.emit_trivia(i);
        self.builder.checkpoint()
    }

    fn start_node_at(&mut self, cp: Checkpoint, kind: SyntaxKind) {
        self.builder.start_node_at(cp, raw(kind));
    }

    fn finish_node(&mut self) {
        self.builder.finish_node();
    }

    /// Where C++ Nix locates the end of the input: the start of the last
    /// lexeme, whitespace and comments included.
    fn eof_offset(&self) -> usize {
        let n = self.toks.len();
        let Some(last) = n.checked_sub(1).and_then(|i| self.tok(i)) else {
            return 0;
        };
        if self.string_stack.last() == Some(&true)
            && matches!(last.kind, TOKEN_STRING_CONTENT | TOKEN_ERROR)
        {
            let opener = (n >= 2 && self.toks[n - 2].kind == TOKEN_STRING_START)
                .then(|| self.toks[n - 2].start as usize);
            return last_ind_lexeme(last.text, last.start, opener);
        }
        last.start
    }

    /// Bison's name for the next token.
    fn token_name(&self, t: Tok) -> String {
        let in_ind = self.string_stack.last().copied();
        let name = match t.kind {
            TOKEN_ADD => "'+'",
            TOKEN_AND_AND => "AND",
            TOKEN_ASSIGN => "'='",
            TOKEN_ASSERT => "ASSERT",
            TOKEN_AT => "'@'",
            TOKEN_COLON => "':'",
            TOKEN_COMMA => "','",
            TOKEN_CONCAT => "CONCAT",
            TOKEN_DIV => "'/'",
            TOKEN_DOT => "'.'",
            TOKEN_ELLIPSIS => "ELLIPSIS",
            TOKEN_ELSE => "ELSE",
            TOKEN_EQUAL => "EQ",
            TOKEN_FLOAT => "FLOAT",
            TOKEN_IDENT | TOKEN_CUR_POS => "ID",
            TOKEN_IF => "IF",
            TOKEN_IMPLICATION => "IMPL",
            TOKEN_IN => "IN",
            TOKEN_INHERIT => "INHERIT",
            TOKEN_INTEGER => "INT",
            TOKEN_INTERPOL_END | TOKEN_R_BRACE => "'}'",
            TOKEN_INTERPOL_START => "DOLLAR_CURLY",
            TOKEN_INVERT => "'!'",
            TOKEN_L_BRACE => "'{'",
            TOKEN_L_BRACK => "'['",
            TOKEN_L_PAREN => "'('",
            TOKEN_LESS => "'<'",
            TOKEN_LESS_OR_EQ => "LEQ",
            TOKEN_LET => "LET",
            TOKEN_MORE => "'>'",
            TOKEN_MORE_OR_EQ => "GEQ",
            TOKEN_MUL => "'*'",
            TOKEN_NOT_EQUAL => "NEQ",
            TOKEN_OR => "OR_KW",
            TOKEN_OR_OR => "OR",
            TOKEN_PATH_ABS | TOKEN_PATH_REL => "PATH",
            TOKEN_PATH_HOME => "HPATH",
            TOKEN_PATH_SEARCH => "SPATH",
            TOKEN_QUESTION => "'?'",
            TOKEN_R_BRACK => "']'",
            TOKEN_R_PAREN => "')'",
            TOKEN_REC => "REC",
            TOKEN_SEMICOLON => "';'",
            TOKEN_STRING_CONTENT if in_ind == Some(true) => "IND_STR",
            TOKEN_STRING_CONTENT => "STR",
            TOKEN_STRING_END | TOKEN_STRING_START if t.text == "''" => {
                if t.kind == TOKEN_STRING_END {
                    "IND_STRING_CLOSE"
                } else {
                    "IND_STRING_OPEN"
                }
            }
            TOKEN_STRING_END | TOKEN_STRING_START => "'\"'",
            TOKEN_SUB => "'-'",
            TOKEN_THEN => "THEN",
            TOKEN_UPDATE => "UPDATE",
            TOKEN_URI => "URI",
            TOKEN_WITH => "WITH",
            _ => "invalid token",
        };
        name.to_owned()
    }

    /// "syntax error, unexpected X[, expecting A or B]" at the next token.
    fn unexpected(&self, expecting: &[&str]) -> SyntaxError {
        let i = self.peek_index();
        let tok = self.tok(i);
        // Inside a string, rnix's tokenizer makes the rest of an
        // unterminated string one error token: C++ Nix reads a string
        // part, then the end of the input.
        let eof = match tok {
            None => true,
            Some(t) => {
                t.kind == TOKEN_ERROR && !self.string_stack.is_empty() && i + 1 == self.toks.len()
            }
        };
        if let Some(t) = tok {
            if t.kind == TOKEN_ERROR && is_path_with_trailing_slash(t.text) {
                // C++ Nix's lexer reads the slash as part of the path
                // and refuses it there.
                return SyntaxError {
                    message: "path has a trailing slash".into(),
                    offset: t.start,
                };
            }
        }
        let (what, offset) = match tok {
            Some(t) if !eof => (self.token_name(t), t.start),
            _ => ("end of file".to_owned(), self.eof_offset()),
        };
        let expecting: &[&str] = if self.empty_braces_follow == Some(i) {
            &["':'", "'@'"]
        } else {
            expecting
        };
        let mut message = format!("syntax error, unexpected {what}");
        if !expecting.is_empty() {
            message.push_str(", expecting ");
            message.push_str(&expecting.join(" or "));
        }
        SyntaxError { message, offset }
    }

    fn expect(&mut self, kind: SyntaxKind, expecting: &[&str]) -> R<()> {
        if self.peek() == Some(kind) {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected(expecting))
        }
    }

    /// One more level of nesting.
    fn descend(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let offset = match self.peek_tok() {
                Some(t) => t.start,
                None => self.eof_offset(),
            };
            return Err(SyntaxError {
                message: "memory exhausted".into(),
                offset,
            });
        }
        Ok(())
    }

    /// `expr`: a function, `assert`, `with`, `let … in`, `if`, or an
    /// operator expression.
    fn parse_expr(&mut self) -> R<()> {
        self.descend()?;
        self.expr_inner()?;
        self.depth -= 1;
        Ok(())
    }

    fn expr_inner(&mut self) -> R<()> {
        match self.peek() {
            Some(TOKEN_LET) if self.peek_nth(1).map(|t| t.kind) != Some(TOKEN_L_BRACE) => {
                let cp = self.checkpoint();
                self.start_node_at(cp, NODE_LET_IN);
                self.bump();
                self.parse_binds(TOKEN_IN)?;
                self.bump();
                self.parse_expr()?;
                self.finish_node();
            }
            Some(TOKEN_WITH) | Some(TOKEN_ASSERT) => {
                let kind = if self.peek() == Some(TOKEN_WITH) {
                    NODE_WITH
                } else {
                    NODE_ASSERT
                };
                self.start_node(kind);
                self.bump();
                self.parse_expr()?;
                self.expect(TOKEN_SEMICOLON, &["';'"])?;
                self.parse_expr()?;
                self.finish_node();
            }
            Some(TOKEN_IF) => {
                self.start_node(NODE_IF_ELSE);
                self.bump();
                self.parse_expr()?;
                self.expect(TOKEN_THEN, &["THEN"])?;
                self.parse_expr()?;
                self.expect(TOKEN_ELSE, &["ELSE"])?;
                self.parse_expr()?;
                self.finish_node();
            }
            Some(TOKEN_IDENT) => match self.peek_nth(1).map(|t| t.kind) {
                Some(TOKEN_COLON) => {
                    self.start_node(NODE_LAMBDA);
                    self.start_node(NODE_IDENT_PARAM);
                    self.start_node(NODE_IDENT);
                    self.bump();
                    self.finish_node();
                    self.finish_node();
                    self.bump();
                    self.parse_expr()?;
                    self.finish_node();
                }
                Some(TOKEN_AT) => {
                    self.start_node(NODE_LAMBDA);
                    self.start_node(NODE_PATTERN);
                    self.start_node(NODE_PAT_BIND);
                    self.start_node(NODE_IDENT);
                    self.bump();
                    self.finish_node();
                    self.bump();
                    self.finish_node();
                    self.expect(TOKEN_L_BRACE, &["'{'"])?;
                    self.parse_formals()?;
                    self.finish_node();
                    self.expect(TOKEN_COLON, &["':'"])?;
                    self.parse_expr()?;
                    self.finish_node();
                }
                _ => self.parse_binary(0).map(drop)?,
            },
            Some(TOKEN_L_BRACE) => {
                let t1 = self.peek_nth(1).map(|t| t.kind);
                let t2 = self.peek_nth(2).map(|t| t.kind);
                let formals = match t1 {
                    Some(TOKEN_ELLIPSIS) => true,
                    Some(TOKEN_R_BRACE) => matches!(t2, Some(TOKEN_COLON | TOKEN_AT)),
                    Some(TOKEN_IDENT) => {
                        matches!(t2, Some(TOKEN_COMMA | TOKEN_QUESTION | TOKEN_R_BRACE))
                    }
                    _ => false,
                };
                if formals {
                    self.start_node(NODE_LAMBDA);
                    self.start_node(NODE_PATTERN);
                    self.bump();
                    self.parse_formals()?;
                    let bound = self.peek() == Some(TOKEN_AT);
                    if bound {
                        self.start_node(NODE_PAT_BIND);
                        self.bump();
                        if self.peek() != Some(TOKEN_IDENT) {
                            return Err(self.unexpected(&["ID"]));
                        }
                        self.start_node(NODE_IDENT);
                        self.bump();
                        self.finish_node();
                        self.finish_node();
                    }
                    self.finish_node();
                    let expecting: &[&str] = if bound { &["':'"] } else { &["':'", "'@'"] };
                    self.expect(TOKEN_COLON, expecting)?;
                    self.parse_expr()?;
                    self.finish_node();
                } else {
                    if t1 == Some(TOKEN_R_BRACE) {
                        let first = self.peek_index();
                        let close = self.next_significant(first + 1);
                        self.empty_braces_follow = Some(self.next_significant(close + 1));
                    }
                    self.parse_binary(0)?;
                }
            }
            _ => {
                self.parse_binary(0)?;
            }
        }
        Ok(())
    }

    /// Formals after `{`, up to and including `}`.
    fn parse_formals(&mut self) -> R<()> {
        loop {
            match self.peek() {
                Some(TOKEN_R_BRACE) => {
                    self.bump();
                    return Ok(());
                }
                Some(TOKEN_ELLIPSIS) => {
                    self.bump();
                    return self.expect(TOKEN_R_BRACE, &["'}'"]);
                }
                Some(TOKEN_IDENT) => {
                    self.start_node(NODE_PAT_ENTRY);
                    self.start_node(NODE_IDENT);
                    self.bump();
                    self.finish_node();
                    if self.peek() == Some(TOKEN_QUESTION) {
                        self.bump();
                        self.parse_expr()?;
                    }
                    self.finish_node();
                    match self.peek() {
                        Some(TOKEN_COMMA) => self.bump(),
                        Some(TOKEN_R_BRACE) => {
                            self.bump();
                            return Ok(());
                        }
                        _ => return Err(self.unexpected(&["'}'"])),
                    }
                }
                _ => return Err(self.unexpected(&["'}'"])),
            }
        }
    }

    /// Operators, by precedence climbing: `min` is the lowest level
    /// parsed. Levels (lowest first): `<|`, `|>`, `->`, `||`, `&&`,
    /// `==`/`!=`, `<`/`<=`/`>`/`>=`, `//`, `!` (prefix), `+`/`-`,
    /// `*`/`/`, `++`, `?`, `-` (prefix), application.
    fn parse_binary(&mut self, min: u8) -> R<Checkpoint> {
        let cp = match self.peek() {
            Some(TOKEN_INVERT) | Some(TOKEN_SUB) => {
                let operand = if self.peek() == Some(TOKEN_INVERT) {
                    9
                } else {
                    NEGATE_OPERAND
                };
                let cp = self.checkpoint();
                self.start_node(NODE_UNARY_OP);
                self.bump();
                self.descend()?;
                self.parse_binary(operand)?;
                self.depth -= 1;
                self.finish_node();
                cp
            }
            _ => self.parse_app()?,
        };
        if min >= NEGATE_OPERAND {
            return Ok(cp);
        }
        while let Some(op) = self.peek() {
            let Some((level, assoc)) = binary_level(op) else {
                break;
            };
            if level < min {
                break;
            }
            if op == TOKEN_QUESTION {
                self.start_node_at(cp, NODE_HAS_ATTR);
                self.bump();
                self.parse_attrpath()?;
                self.finish_node();
                continue;
            }
            self.start_node_at(cp, NODE_BIN_OP);
            self.bump();
            match assoc {
                Assoc::Left => {
                    self.parse_binary(level + 1)?;
                }
                Assoc::Right => {
                    self.descend()?;
                    self.parse_binary(level)?;
                    self.depth -= 1;
                }
                Assoc::Non => {
                    self.parse_binary(level + 1)?;
                    if self
                        .peek()
                        .and_then(binary_level)
                        .is_some_and(|(l, _)| l == level)
                    {
                        return Err(self.unexpected(&[]));
                    }
                }
            }
            self.finish_node();
        }
        Ok(cp)
    }

    /// Application: a select expression applied to select expressions.
    fn parse_app(&mut self) -> R<Checkpoint> {
        let cp = self.parse_select()?;
        while self.peek_tok().is_some_and(starts_select) {
            self.start_node_at(cp, NODE_APPLY);
            self.parse_select()?;
            self.finish_node();
        }
        Ok(cp)
    }

    /// `expr_select`: a simple expression, perhaps `.attrpath [or default]`,
    /// or applied to `or` (C++ Nix's compatibility rule).
    fn parse_select(&mut self) -> R<Checkpoint> {
        let cp = self.checkpoint();
        self.parse_simple()?;
        match self.peek() {
            Some(TOKEN_DOT) => {
                self.start_node_at(cp, NODE_SELECT);
                self.bump();
                self.parse_attrpath()?;
                if self.peek() == Some(TOKEN_OR) {
                    self.bump();
                    self.descend()?;
                    self.parse_select()?;
                    self.depth -= 1;
                }
                self.finish_node();
            }
            Some(TOKEN_OR) => {
                self.start_node_at(cp, NODE_APPLY);
                self.start_node(NODE_IDENT);
                self.bump_as(Some(TOKEN_IDENT));
                self.finish_node();
                self.finish_node();
            }
            _ => {}
        }
        Ok(cp)
    }

    fn parse_simple(&mut self) -> R<()> {
        let Some(t) = self.peek_tok() else {
            return Err(self.unexpected(&[]));
        };
        match t.kind {
            TOKEN_IDENT if t.text == "__curPos" => {
                self.start_node(NODE_CUR_POS);
                self.bump_as(Some(TOKEN_CUR_POS));
                self.finish_node();
            }
            TOKEN_IDENT => {
                self.start_node(NODE_IDENT);
                self.bump();
                self.finish_node();
            }
            TOKEN_INTEGER | TOKEN_FLOAT | TOKEN_URI => {
                self.start_node(NODE_LITERAL);
                self.bump();
                self.finish_node();
            }
            TOKEN_PATH_ABS | TOKEN_PATH_REL | TOKEN_PATH_HOME | TOKEN_PATH_SEARCH => {
                self.parse_path(t.kind)?
            }
            TOKEN_STRING_START => self.parse_string()?,
            TOKEN_L_PAREN => {
                self.start_node(NODE_PAREN);
                self.bump();
                self.parse_expr()?;
                self.expect(TOKEN_R_PAREN, &["')'"])?;
                self.finish_node();
            }
            TOKEN_REC => {
                self.start_node(NODE_ATTR_SET);
                self.bump();
                self.expect(TOKEN_L_BRACE, &["'{'"])?;
                self.parse_binds(TOKEN_R_BRACE)?;
                self.bump();
                self.finish_node();
            }
            TOKEN_L_BRACE => {
                self.start_node(NODE_ATTR_SET);
                self.bump();
                self.parse_binds(TOKEN_R_BRACE)?;
                self.bump();
                self.finish_node();
            }
            TOKEN_LET => {
                self.start_node(NODE_LEGACY_LET);
                self.bump();
                self.expect(TOKEN_L_BRACE, &["'{'"])?;
                self.parse_binds(TOKEN_R_BRACE)?;
                self.bump();
                self.finish_node();
            }
            TOKEN_L_BRACK => {
                self.start_node(NODE_LIST);
                self.bump();
                while self.peek_tok().is_some_and(starts_select) {
                    self.descend()?;
                    self.parse_select()?;
                    self.depth -= 1;
                }
                if self.peek() != Some(TOKEN_R_BRACK) {
                    return Err(self.unexpected(&[]));
                }
                self.bump();
                self.finish_node();
            }
            _ => return Err(self.unexpected(&[])),
        }
        Ok(())
    }

    fn parse_path(&mut self, kind: SyntaxKind) -> R<()> {
        let node = match kind {
            TOKEN_PATH_ABS => NODE_PATH_ABS,
            TOKEN_PATH_REL => NODE_PATH_REL,
            TOKEN_PATH_HOME => NODE_PATH_HOME,
            _ => NODE_PATH_SEARCH,
        };
        self.start_node(node);
        self.bump();
        if node != NODE_PATH_SEARCH {
            // The parts of an interpolated path follow without trivia.
            loop {
                match self.kind_at(self.pos) {
                    Some(TOKEN_PATH_ABS | TOKEN_PATH_REL | TOKEN_PATH_HOME) => self.bump(),
                    Some(TOKEN_INTERPOL_START) => self.parse_interpolation()?,
                    _ => break,
                }
            }
        }
        self.finish_node();
        Ok(())
    }

    /// `${ expr }` inside a string or path.
    fn parse_interpolation(&mut self) -> R<()> {
        self.start_node(NODE_INTERPOL);
        self.bump();
        self.parse_expr()?;
        self.expect(TOKEN_INTERPOL_END, &["'}'"])?;
        self.finish_node();
        Ok(())
    }

    fn parse_string(&mut self) -> R<()> {
        let indented = self.peek_tok().is_some_and(|t| t.text == "''");
        self.string_stack.push(indented);
        self.start_node(NODE_STRING);
        self.bump();
        let expecting: &[&str] = if indented {
            &["IND_STR", "DOLLAR_CURLY", "IND_STRING_CLOSE"]
        } else {
            &["'\"'"]
        };
        loop {
            // No trivia inside strings.
            match self.kind_at(self.pos) {
                Some(TOKEN_STRING_CONTENT) => self.bump(),
                Some(TOKEN_INTERPOL_START) => {
                    let outer = self.string_stack.len();
                    self.parse_interpolation()?;
                    debug_assert_eq!(outer, self.string_stack.len());
                }
                Some(TOKEN_STRING_END) => {
                    self.bump();
                    break;
                }
                _ => return Err(self.unexpected(expecting)),
            }
        }
        self.finish_node();
        self.string_stack.pop();
        Ok(())
    }

    fn parse_attr(&mut self) -> R<()> {
        match self.peek_tok() {
            Some(t) if matches!(t.kind, TOKEN_IDENT | TOKEN_OR) => {
                self.start_node(NODE_IDENT);
                self.bump_as(Some(TOKEN_IDENT));
                self.finish_node();
                Ok(())
            }
            Some(t) if t.kind == TOKEN_INTERPOL_START => {
                self.start_node(NODE_DYNAMIC);
                self.bump();
                self.parse_expr()?;
                self.expect(TOKEN_INTERPOL_END, &["'}'"])?;
                self.finish_node();
                Ok(())
            }
            Some(t) if t.kind == TOKEN_STRING_START && t.text == "\"" => self.parse_string(),
            _ => Err(self.unexpected(ATTR_EXPECTED)),
        }
    }

    fn parse_attrpath(&mut self) -> R<()> {
        self.start_node(NODE_ATTRPATH);
        self.parse_attr()?;
        while self.peek() == Some(TOKEN_DOT) {
            self.bump();
            self.parse_attr()?;
        }
        self.finish_node();
        Ok(())
    }

    /// Bindings up to `until` (`}` or `in`), which is left for the caller.
    fn parse_binds(&mut self, until: SyntaxKind) -> R<()> {
        loop {
            let Some(t) = self.peek_tok() else {
                return Err(self.unexpected(&[]));
            };
            if t.kind == until {
                return Ok(());
            }
            if t.kind == TOKEN_INHERIT {
                self.start_node(NODE_INHERIT);
                self.bump();
                if self.peek() == Some(TOKEN_L_PAREN) {
                    self.start_node(NODE_INHERIT_FROM);
                    self.bump();
                    self.parse_expr()?;
                    self.expect(TOKEN_R_PAREN, &["')'"])?;
                    self.finish_node();
                }
                while self.peek_tok().is_some_and(starts_attr) {
                    self.parse_attr()?;
                }
                self.expect(TOKEN_SEMICOLON, &[])?;
                self.finish_node();
            } else if starts_attr(t) {
                self.start_node(NODE_ATTRPATH_VALUE);
                self.parse_attrpath()?;
                self.expect(TOKEN_ASSIGN, &["'.'", "'='"])?;
                self.parse_expr()?;
                self.expect(TOKEN_SEMICOLON, &["';'"])?;
                self.finish_node();
            } else {
                return Err(self.unexpected(&[]));
            }
        }
    }
}

/// Where C++ Nix's last lexeme starts in `text`, the rest of an indented
/// string (at `start`): its lexer reads `''` with the spaces and newline
/// after it as the opening token (`opener` is where that starts, when the
/// text follows it), and the escapes `'''`, `''$` and `''\x` as lexemes of
/// their own.
fn last_ind_lexeme(text: &str, start: usize, opener: Option<usize>) -> usize {
    let b = text.as_bytes();
    let mut i = 0;
    if let Some(open) = opener {
        let spaces = b.iter().take_while(|&&c| c == b' ').count();
        if b.get(spaces) == Some(&b'\n') {
            i = spaces + 1;
            if i == b.len() {
                return open;
            }
        }
    }
    let mut last = i;
    let mut in_run = false;
    while i < b.len() {
        if b[i..].starts_with(b"''") && i + 2 < b.len() {
            last = i;
            in_run = false;
            // `'''`, `''$` or `''\` and the character escaped.
            i += if b[i + 2] == b'\\' {
                3 + text[i + 3..].chars().next().map_or(0, char::len_utf8)
            } else {
                3
            };
            continue;
        }
        if !in_run {
            last = i;
            in_run = true;
        }
        i += 1;
    }
    start + last
}

/// The operand level of prefix `-` (above every binary operator).
const NEGATE_OPERAND: u8 = 13;

#[derive(Clone, Copy)]
enum Assoc {
    Left,
    Right,
    Non,
}

fn binary_level(op: SyntaxKind) -> Option<(u8, Assoc)> {
    Some(match op {
        TOKEN_PIPE_LEFT => (0, Assoc::Right),
        TOKEN_PIPE_RIGHT => (1, Assoc::Left),
        TOKEN_IMPLICATION => (2, Assoc::Right),
        TOKEN_OR_OR => (3, Assoc::Left),
        TOKEN_AND_AND => (4, Assoc::Left),
        TOKEN_EQUAL | TOKEN_NOT_EQUAL => (5, Assoc::Non),
        TOKEN_LESS | TOKEN_LESS_OR_EQ | TOKEN_MORE | TOKEN_MORE_OR_EQ => (6, Assoc::Non),
        TOKEN_UPDATE => (7, Assoc::Right),
        // 8: prefix `!`.
        TOKEN_ADD | TOKEN_SUB => (9, Assoc::Left),
        TOKEN_MUL | TOKEN_DIV => (10, Assoc::Left),
        TOKEN_CONCAT => (11, Assoc::Right),
        TOKEN_QUESTION => (12, Assoc::Non),
        _ => return None,
    })
}

/// Tokens that start a select expression (an argument, a list item).
fn starts_select(t: Tok) -> bool {
    matches!(
        t.kind,
        TOKEN_IDENT
            | TOKEN_INTEGER
            | TOKEN_FLOAT
            | TOKEN_URI
            | TOKEN_PATH_ABS
            | TOKEN_PATH_REL
            | TOKEN_PATH_HOME
            | TOKEN_PATH_SEARCH
            | TOKEN_STRING_START
            | TOKEN_L_PAREN
            | TOKEN_REC
            | TOKEN_L_BRACE
            | TOKEN_L_BRACK
            | TOKEN_LET
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> (String, usize) {
        let e = parse(text).expect_err("a syntax error");
        (e.message, e.offset)
    }

    #[test]
    fn same_tree_as_rnix() {
        for text in [
            "1",
            " { a = 1; b.c = [ 1 2 ./x ]; inherit (x) y \"z\"; } ",
            "x: y: x",
            "{ a, b ? 1, ... } @ args: a",
            "args @ { a }: a",
            "let a = 1; in a.b or c",
            "with x; assert y; if a then b else c",
            "\"a${b}c\" + ''x${y}z''",
            "a or b",
            "!a == b && -c < d || e -> f // g ++ h ? i.j",
            "./a/${b}/c",
            "rec { a = 1; }",
            "# c\n(a /* x */ b) # d\n",
        ] {
            let ours = parse(text).expect("parses");
            let theirs = rnix::Root::parse(text);
            assert!(theirs.errors().is_empty(), "{text}");
            assert_eq!(
                format!("{:#?}", rowan::ast::AstNode::syntax(&ours)),
                format!("{:#?}", rowan::ast::AstNode::syntax(&theirs.tree())),
                "{text}"
            );
        }
    }

    #[test]
    fn errors_as_cpp_nix() {
        let e = |m: &str| format!("syntax error, {m}");
        assert_eq!(err("1;"), (e("unexpected ';', expecting end of file"), 1));
        assert_eq!(err("(1"), (e("unexpected end of file, expecting ')'"), 1));
        assert_eq!(err("{ a = 1 }"), (e("unexpected '}', expecting ';'"), 8));
        assert_eq!(err("{ a, 1 }: 1"), (e("unexpected INT, expecting '}'"), 5));
        assert_eq!(err("1 == 2 == 3"), (e("unexpected EQ"), 7));
        assert_eq!(err("{} ;"), (e("unexpected ';', expecting ':' or '@'"), 3));
        assert_eq!(
            err("\"abc"),
            (e("unexpected end of file, expecting '\"'"), 1)
        );
        assert_eq!(err("x: "), (e("unexpected end of file"), 2));
        assert_eq!(err(""), (e("unexpected end of file"), 0));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}1{}", "(".repeat(20_000), ")".repeat(20_000));
        let e = std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(move || parse(&deep).map(drop))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(e.unwrap_err().message, "memory exhausted");
    }
}
