//! Small readers of rnix's syntax tree shared by the compiler and the
//! `--parse` printer.

use rnix::ast::{self, InterpolPart};
use rowan::ast::AstNode;

/// The name an identifier node spells.
pub fn ident_text(id: &ast::Ident) -> String {
    id.ident_token()
        .map(|t| t.text().to_owned())
        .unwrap_or_else(|| id.syntax().text().to_string())
}

/// The text of a string without interpolations.
pub fn literal_string(s: &ast::Str) -> Option<String> {
    let mut out = String::new();
    for p in s.normalized_parts() {
        match p {
            InterpolPart::Literal(t) => out.push_str(&t),
            InterpolPart::Interpolation(_) => return None,
        }
    }
    Some(out)
}
