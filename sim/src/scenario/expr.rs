//! `{expr}` substitution: integer arithmetic over loop variables.

use std::collections::BTreeMap;

pub(crate) type Vars = BTreeMap<String, i64>;

/// Replaces every `{expr}` in `text` with its value.
pub(crate) fn substitute(text: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| "unclosed `{`".to_owned())?;
        out.push_str(&eval(&rest[open + 1..open + close], vars)?.to_string());
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Evaluates `+ - * / %`, parentheses, unary minus, integers and variables.
pub(crate) fn eval(src: &str, vars: &Vars) -> Result<i64, String> {
    let tokens = tokenize(src)?;
    let mut p = Parser {
        tokens: &tokens,
        at: 0,
        vars,
    };
    let v = p.sum()?;
    if p.at != tokens.len() {
        return Err(format!("unexpected `{}` in `{src}`", tokens[p.at]));
    }
    Ok(v)
}

fn tokenize(src: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut chars = src.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let mut word = String::new();
            while let Some(&c) = chars
                .peek()
                .filter(|c| c.is_ascii_alphanumeric() || **c == '_')
            {
                word.push(c);
                chars.next();
            }
            tokens.push(word);
        } else if "+-*/%()".contains(c) {
            tokens.push(c.to_string());
            chars.next();
        } else {
            return Err(format!("unexpected character `{c}` in `{src}`"));
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [String],
    at: usize,
    vars: &'a Vars,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn sum(&mut self) -> Result<i64, String> {
        let mut v = self.product()?;
        while let Some(op @ ("+" | "-")) = self.peek() {
            let op = op.to_owned();
            self.at += 1;
            let r = self.product()?;
            v = if op == "+" {
                v.checked_add(r)
            } else {
                v.checked_sub(r)
            }
            .ok_or("arithmetic overflow")?;
        }
        Ok(v)
    }

    fn product(&mut self) -> Result<i64, String> {
        let mut v = self.factor()?;
        while let Some(op @ ("*" | "/" | "%")) = self.peek() {
            let op = op.to_owned();
            self.at += 1;
            let r = self.factor()?;
            v = match op.as_str() {
                "*" => v.checked_mul(r),
                "/" => v.checked_div(r),
                _ => v.checked_rem(r),
            }
            .ok_or("arithmetic overflow or division by zero")?;
        }
        Ok(v)
    }

    fn factor(&mut self) -> Result<i64, String> {
        let tok = self.peek().ok_or("expression ends too early")?.to_owned();
        self.at += 1;
        match tok.as_str() {
            "-" => self.factor().map(|v| -v),
            "(" => {
                let v = self.sum()?;
                if self.peek() != Some(")") {
                    return Err("missing `)`".into());
                }
                self.at += 1;
                Ok(v)
            }
            t if t.starts_with(|c: char| c.is_ascii_digit()) => {
                t.parse().map_err(|_| format!("bad number `{t}`"))
            }
            t => self
                .vars
                .get(t)
                .copied()
                .ok_or_else(|| format!("unknown variable `{t}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_with_precedence_and_variables() {
        let vars = Vars::from([("t".to_owned(), 7), ("i".to_owned(), 3)]);
        assert_eq!(eval("t*2+i", &vars), Ok(17));
        assert_eq!(eval("(t+1)%i", &vars), Ok(2));
        assert_eq!(eval("-i*-2", &vars), Ok(6));
        assert_eq!(
            substitute("p{i} move {i} {t*10} 5", &vars).unwrap(),
            "p3 move 3 70 5"
        );
        assert!(eval("x", &vars).is_err());
        assert!(eval("1/0", &vars).is_err());
        assert!(substitute("{t", &vars).is_err());
    }
}
