//! Tokens of the CRUSH text format: words, braces and brackets, with `#` comments to end of line.

use crate::crush::error::CrushError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Word(String),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: usize,
}

impl Tok {
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("'{w}'"),
            Tok::Open => "'{'".into(),
            Tok::Close => "'}'".into(),
            Tok::OpenBracket => "'['".into(),
            Tok::CloseBracket => "']'".into(),
        }
    }
}

/// Characters that may appear in a word: names (`osd.1`, `host-a_2`), numbers (`-3`, `1.5e2`).
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+')
}

pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, CrushError> {
    let mut tokens = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let code = line.split('#').next().unwrap_or("");
        let mut chars = code.char_indices().peekable();
        while let Some(&(start, c)) = chars.peek() {
            let single = match c {
                '{' => Some(Tok::Open),
                '}' => Some(Tok::Close),
                '[' => Some(Tok::OpenBracket),
                ']' => Some(Tok::CloseBracket),
                _ => None,
            };
            if let Some(tok) = single {
                tokens.push(Token { tok, line: line_no });
                chars.next();
            } else if c.is_whitespace() {
                chars.next();
            } else if is_word_char(c) {
                let mut end = start;
                while let Some(&(i, c)) = chars.peek() {
                    if !is_word_char(c) {
                        break;
                    }
                    end = i + c.len_utf8();
                    chars.next();
                }
                tokens.push(Token {
                    tok: Tok::Word(code[start..end].to_string()),
                    line: line_no,
                });
            } else {
                return Err(CrushError::parse(
                    line_no,
                    format!("unexpected character {c:?}"),
                ));
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_braces_and_comments() {
        let t = tokenize("host a-1 {# c\n item osd.0 weight 1.5}\n").unwrap();
        let words: Vec<String> = t.iter().map(|t| t.tok.describe()).collect();
        assert_eq!(
            words,
            ["'host'", "'a-1'", "'{'", "'item'", "'osd.0'", "'weight'", "'1.5'", "'}'"]
        );
        assert_eq!(t[3].line, 2);
    }

    #[test]
    fn stray_characters_are_errors() {
        let e = tokenize("device 0 osd:0\n").unwrap_err();
        assert_eq!(e, CrushError::parse(1, "unexpected character ':'"));
    }
}
