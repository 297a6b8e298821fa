//! Compiles the CRUSH text format (what `crushtool -c` reads) into a [`CrushMap`].
//!
//! The accepted language is crushtool's: first any mix of `tunable`, `device` and `type` lines, then
//! buckets and rules (a name is usable once defined), then `choose_args` blocks. The semantics
//! follow crushtool's compiler — default item weights, explicit and implicit item positions,
//! automatic bucket ids, the shadow (per device class) hierarchy built when the first rule is
//! seen — so a compiled map encodes to the same bytes. Every problem is an error naming the line.

use super::lexer::{tokenize, Tok, Token};
use crate::crush::bucket::{Bucket, BucketAlg};
use crate::crush::error::CrushError;
use crate::crush::map::{ChooseArgMap, CrushMap, MAX_RULES};
use crate::crush::rule::{ChooseMode, Rule, Step, RULE_TYPE_ERASURE, RULE_TYPE_REPLICATED};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Device weights are limited to 100.0 (in 16.16).
const MAX_DEVICE_WEIGHT: u32 = 100 * 0x10000;
/// Bucket weights are limited so sums cannot overflow.
const MAX_BUCKET_WEIGHT: u32 = 65535 * 0x10000;
/// Highest device id accepted (far above any real cluster; bounds the weight vectors).
const MAX_DEVICE_ID: u32 = (1 << 20) - 1;

/// Compiles a text map.
pub fn compile(text: &str) -> Result<CrushMap, CrushError> {
    let tokens = tokenize(text)?;
    let mut c = Compiler {
        last_line: tokens.last().map_or(1, |t| t.line),
        tokens,
        pos: 0,
        map: CrushMap::new(),
        type_ids: HashMap::new(),
        item_ids: HashMap::new(),
        item_weights: HashMap::new(),
        taken_bucket_ids: BTreeSet::new(),
        class_bucket: BTreeMap::new(),
        rule_names: HashMap::new(),
        classes_populated: false,
    };
    c.prescan_bucket_ids();
    c.run()?;
    c.map.finalize();
    c.map.validate()?;
    Ok(c.map)
}

struct Compiler {
    tokens: Vec<Token>,
    pos: usize,
    last_line: usize,
    map: CrushMap,
    /// Type name → id (a later definition of a name wins).
    type_ids: HashMap<String, i32>,
    /// Device and bucket names defined so far.
    item_ids: HashMap<String, i32>,
    /// Weight of each bucket defined so far: the default weight of `item BUCKET`.
    item_weights: HashMap<i32, u32>,
    /// Ids automatic bucket ids must avoid: every explicit `id` line, and ids assigned so far.
    taken_bucket_ids: BTreeSet<i32>,
    /// Explicit shadow ids (`id -5 class ssd`), applied when the shadow trees are built.
    class_bucket: BTreeMap<i32, BTreeMap<i32, i32>>,
    rule_names: HashMap<String, usize>,
    classes_populated: bool,
}

#[derive(PartialEq, PartialOrd)]
enum Section {
    Header,
    Hierarchy,
    ChooseArgs,
}

impl Compiler {
    // ---- token helpers ----

    fn line(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.last_line, |t| t.line)
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, CrushError> {
        Err(CrushError::parse(self.line(), message))
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn peek_word(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn found(&self) -> String {
        self.peek().map_or("end of file".into(), Tok::describe)
    }

    fn word(&mut self, what: &str) -> Result<String, CrushError> {
        match self.tokens.get(self.pos) {
            Some(Token {
                tok: Tok::Word(w), ..
            }) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            _ => self.err(format!("expected {what}, found {}", self.found())),
        }
    }

    fn keyword(&mut self, kw: &str) -> Result<(), CrushError> {
        if self.peek_word() == Some(kw) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(format!("expected '{kw}', found {}", self.found()))
        }
    }

    fn accept(&mut self, kw: &str) -> bool {
        let hit = self.peek_word() == Some(kw);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn punct(&mut self, want: Tok) -> Result<(), CrushError> {
        if self.peek() == Some(&want) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(format!(
                "expected {}, found {}",
                want.describe(),
                self.found()
            ))
        }
    }

    fn accept_punct(&mut self, want: Tok) -> bool {
        let hit = self.peek() == Some(&want);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn name(&mut self, what: &str) -> Result<String, CrushError> {
        let w = self.word(what)?;
        if w.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            Ok(w)
        } else {
            self.err(format!(
                "invalid {what} '{w}' (letters, digits, '-', '_' and '.' only)"
            ))
        }
    }

    fn posint(&mut self, what: &str) -> Result<u32, CrushError> {
        let w = self.word(what)?;
        if !w.bytes().all(|b| b.is_ascii_digit()) {
            return self.err_back(format!(
                "expected {what} (a non-negative integer), found '{w}'"
            ));
        }
        w.parse()
            .or_else(|_| self.err_back(format!("{what} {w} is too large")))
    }

    fn int(&mut self, what: &str) -> Result<i32, CrushError> {
        let w = self.word(what)?;
        let digits = w.strip_prefix('-').unwrap_or(&w);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return self.err_back(format!("expected {what} (an integer), found '{w}'"));
        }
        w.parse()
            .or_else(|_| self.err_back(format!("{what} {w} is out of range")))
    }

    /// A 16.16 fixed-point weight: the text is read as a 32-bit float and scaled, as crushtool does.
    fn weight(&mut self, what: &str) -> Result<u32, CrushError> {
        let w = self.word(what)?;
        let valid = w.bytes().any(|b| b.is_ascii_digit())
            && w.bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
        let Some(v) = w.parse::<f32>().ok().filter(|_| valid) else {
            return self.err_back(format!("expected {what} (a number), found '{w}'"));
        };
        // A negative product wraps to a huge value and is then refused by the limits.
        Ok(((v * 65536.0f32) as i64) as u32)
    }

    /// An error about the token just consumed.
    fn err_back<T>(&self, message: String) -> Result<T, CrushError> {
        let line = self
            .tokens
            .get(self.pos.saturating_sub(1))
            .map_or(self.last_line, |t| t.line);
        Err(CrushError::parse(line, message))
    }

    // ---- top level ----

    /// Explicit bucket ids (plain and per class) are reserved before any automatic id is given.
    fn prescan_bucket_ids(&mut self) {
        let mut depth = 0;
        for i in 0..self.tokens.len() {
            match &self.tokens[i].tok {
                Tok::Open => depth += 1,
                Tok::Close => depth -= 1,
                Tok::Word(w) if depth == 1 && w == "id" => {
                    if let Some(Tok::Word(v)) = self.tokens.get(i + 1).map(|t| &t.tok) {
                        if let Ok(id) = v.parse::<i32>() {
                            if id < 0 {
                                self.taken_bucket_ids.insert(id);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn run(&mut self) -> Result<(), CrushError> {
        let mut section = Section::Header;
        while let Some(tok) = self.peek() {
            let Tok::Word(first) = tok else {
                return self.err(format!("expected a definition, found {}", tok.describe()));
            };
            let wanted = match first.as_str() {
                "tunable" | "device" | "type" => Section::Header,
                "choose_args" => Section::ChooseArgs,
                _ => Section::Hierarchy,
            };
            if wanted < section {
                let order = "tunables, devices and types come first, then buckets and rules, then choose_args";
                return self.err(format!("'{first}' is out of place: {order}"));
            }
            section = wanted;
            match first.as_str() {
                "tunable" => self.tunable()?,
                "device" => self.device()?,
                "type" => self.bucket_type()?,
                "rule" => self.rule()?,
                "choose_args" => self.choose_args()?,
                _ => self.bucket()?,
            }
        }
        Ok(())
    }

    fn tunable(&mut self) -> Result<(), CrushError> {
        self.keyword("tunable")?;
        let name = self.name("tunable name")?;
        let value = self.posint("tunable value")?;
        match self.map.tunables.set_by_name(&name, value) {
            Ok(()) => Ok(()),
            Err(CrushError::NotFound { .. }) => self.err_back(format!("unknown tunable '{name}'")),
            Err(e) => self.err_back(e.to_string()),
        }
    }

    fn device(&mut self) -> Result<(), CrushError> {
        self.keyword("device")?;
        let id = self.posint("device id")?;
        if id > MAX_DEVICE_ID {
            return self.err_back(format!(
                "device id {id} is too large (at most {MAX_DEVICE_ID})"
            ));
        }
        let id = id as i32;
        let name = self.name("device name")?;
        if self.item_ids.contains_key(&name) {
            return self.err_back(format!("item {name} defined twice"));
        }
        let class = if self.accept("class") {
            Some(self.name("device class")?)
        } else {
            None
        };
        self.map.names.insert(id, name.clone());
        self.item_ids.insert(name, id);
        if let Some(class) = class {
            let cid = self.map.class_id_or_create(&class);
            self.map.class_map.insert(id, cid);
        }
        Ok(())
    }

    fn bucket_type(&mut self) -> Result<(), CrushError> {
        self.keyword("type")?;
        let id = self.posint("type id")?;
        let id =
            i32::try_from(id).or_else(|_| self.err_back(format!("type id {id} is too large")))?;
        if id > i32::from(u16::MAX) {
            return self.err_back(format!("type id {id} is too large (at most 65535)"));
        }
        let name = self.name("type name")?;
        self.map.type_names.insert(id, name.clone());
        self.type_ids.insert(name, id);
        Ok(())
    }
}

/// One `item` line of a bucket.
struct ItemLine {
    name: String,
    weight: Option<u32>,
    pos: Option<u32>,
    line: usize,
}

impl Compiler {
    fn bucket(&mut self) -> Result<(), CrushError> {
        let type_name = self.name("bucket type")?;
        let Some(&type_id) = self.type_ids.get(&type_name) else {
            return self.err_back(format!("bucket type '{type_name}' is not defined"));
        };
        let name = self.name("bucket name")?;
        if self.item_ids.contains_key(&name) {
            return self.err_back(format!("bucket or device '{name}' is already defined"));
        }
        self.punct(Tok::Open)?;
        let mut id = None;
        let mut class_ids: BTreeMap<i32, i32> = BTreeMap::new();
        while self.accept("id") {
            let v = self.int("bucket id")?;
            if v >= 0 {
                return self.err_back(format!("bucket id {v} must be negative"));
            }
            if self.accept("class") {
                let class = self.name("device class")?;
                let cid = self.map.class_id_or_create(&class);
                if class_ids.insert(cid, v).is_some() {
                    return self
                        .err_back(format!("duplicate device class {class} for bucket {name}"));
                }
            } else {
                id = Some(v);
            }
        }
        self.keyword("alg")?;
        let alg_name = self.name("bucket algorithm")?;
        let Some(alg) = BucketAlg::from_name(&alg_name) else {
            return self.err_back(format!("unknown bucket alg '{alg_name}'"));
        };
        let mut hash = 0u8;
        while self.accept("hash") {
            let h = self.word("hash")?;
            hash = match h.as_str() {
                "rjenkins1" => 0,
                _ => match h.parse::<u8>() {
                    Ok(v) => v,
                    Err(_) => return self.err_back(format!("unknown hash '{h}'")),
                },
            };
        }
        let mut lines = Vec::new();
        while self.peek_word() == Some("item") {
            lines.push(self.item_line()?);
        }
        self.punct(Tok::Close)?;
        self.add_bucket(type_id, name, id, class_ids, alg, hash, lines)
    }

    fn item_line(&mut self) -> Result<ItemLine, CrushError> {
        let line = self.line();
        self.keyword("item")?;
        let name = self.name("item name")?;
        let (mut weight, mut pos) = (None, None);
        loop {
            if self.accept("weight") {
                weight = Some(self.weight("item weight")?);
            } else if self.accept("pos") {
                pos = Some(self.posint("item position")?);
            } else {
                break;
            }
        }
        Ok(ItemLine {
            name,
            weight,
            pos,
            line,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn add_bucket(
        &mut self,
        type_id: i32,
        name: String,
        id: Option<i32>,
        class_ids: BTreeMap<i32, i32>,
        alg: BucketAlg,
        hash: u8,
        lines: Vec<ItemLine>,
    ) -> Result<(), CrushError> {
        let at = |l: &ItemLine, m: String| Err(CrushError::parse(l.line, m));
        // Explicit positions first; the other items fill the lowest free positions in order.
        let mut used = BTreeSet::new();
        for l in &lines {
            if let Some(p) = l.pos {
                if !used.insert(p) {
                    return at(
                        l,
                        format!(
                            "item '{}' in bucket '{name}' has explicit pos {p}, which is occupied",
                            l.name
                        ),
                    );
                }
            }
        }
        // Every explicit position must fall inside the bucket (crushtool reports the size as the
        // larger of the item count and the highest position).
        let size = lines.len();
        if let Some(l) = lines
            .iter()
            .find(|l| l.pos.is_some_and(|p| p as usize >= size))
        {
            let p = l.pos.unwrap_or_default();
            let shown = size.max(used.last().map_or(0, |&m| m as usize));
            return at(
                l,
                format!(
                    "item '{}' in bucket '{name}' has pos {p} >= size {shown}",
                    l.name
                ),
            );
        }
        let mut items = vec![0i32; size];
        let mut weights = vec![0u32; size];
        let mut next_free = 0u32;
        let mut total = 0u32;
        for l in &lines {
            let Some(&item) = self.item_ids.get(&l.name) else {
                return at(
                    l,
                    format!("item '{}' in bucket '{name}' is not defined", l.name),
                );
            };
            let weight = l
                .weight
                .unwrap_or_else(|| self.item_weights.get(&item).copied().unwrap_or(0x10000));
            if item >= 0 && weight > MAX_DEVICE_WEIGHT {
                return at(
                    l,
                    format!("item '{}': device weight limited to 100", l.name),
                );
            }
            if item < 0 && weight > MAX_BUCKET_WEIGHT {
                return at(
                    l,
                    format!("item '{}': bucket weight limited to 65535", l.name),
                );
            }
            let pos = match l.pos {
                Some(p) => p,
                None => {
                    while used.contains(&next_free) {
                        next_free += 1;
                    }
                    next_free += 1;
                    next_free - 1
                }
            };
            items[pos as usize] = item;
            weights[pos as usize] = weight;
            total = match total.checked_add(weight) {
                Some(t) => t,
                None => return at(l, format!("bucket '{name}': item weights overflow")),
            };
        }
        if alg == BucketAlg::Uniform {
            let first = lines.first().and_then(|f| self.line_weight(f));
            if let Some(l) = lines.iter().find(|l| self.line_weight(l) != first) {
                return at(
                    l,
                    format!("item '{}' in uniform bucket '{name}': uniform bucket items must all have identical weights", l.name),
                );
            }
        }
        let id = match id {
            Some(id) => id,
            None => (1..)
                .map(|k: i32| -k)
                .find(|id| !self.taken_bucket_ids.contains(id))
                .unwrap_or(-1),
        };
        self.taken_bucket_ids.insert(id);
        if !class_ids.is_empty() {
            self.class_bucket.insert(id, class_ids);
        }
        let mut bucket = Bucket::new(
            id,
            alg,
            type_id as u16,
            items,
            weights,
            self.map.tunables.straw_calc_version,
        )
        .or_else(|e| self.err_back(format!("bucket '{name}': {e}")))?;
        bucket.hash = hash;
        if let Err(e) = self.map.insert_bucket(bucket) {
            let message = match e {
                CrushError::Exists { .. } => format!("duplicate bucket id {id} (bucket '{name}')"),
                other => format!("bucket '{name}': {other}"),
            };
            return self.err_back(message);
        }
        self.map.names.insert(id, name.clone());
        self.item_ids.insert(name, id);
        self.item_weights.insert(id, total);
        Ok(())
    }

    /// The weight an item line gives (for the uniform check), `None` for an undefined item.
    fn line_weight(&self, l: &ItemLine) -> Option<u32> {
        let item = *self.item_ids.get(&l.name)?;
        Some(
            l.weight
                .unwrap_or_else(|| self.item_weights.get(&item).copied().unwrap_or(0x10000)),
        )
    }
}

impl Compiler {
    fn rule(&mut self) -> Result<(), CrushError> {
        self.keyword("rule")?;
        let name = if self.peek() == Some(&Tok::Open) {
            String::new()
        } else {
            self.name("rule name")?
        };
        if !name.is_empty() && self.rule_names.contains_key(&name) {
            return self.err_back(format!("rule name '{name}' already defined"));
        }
        self.punct(Tok::Open)?;
        if !self.accept("id") && !self.accept("ruleset") {
            return self.err(format!("expected 'id', found {}", self.found()));
        }
        let id = self.posint("rule id")? as usize;
        if id >= MAX_RULES {
            return self.err_back(format!(
                "rule id {id} is too large (at most {})",
                MAX_RULES - 1
            ));
        }
        self.keyword("type")?;
        let rule_type = match self.word("rule type")?.as_str() {
            "replicated" => RULE_TYPE_REPLICATED,
            "erasure" => RULE_TYPE_ERASURE,
            other => {
                return self.err_back(format!(
                    "unknown rule type '{other}' (replicated or erasure)"
                ))
            }
        };
        self.keyword("min_size")?;
        let min_size = self.small("min_size")?;
        self.keyword("max_size")?;
        let max_size = self.small("max_size")?;
        if self.map.rule(id).is_some() {
            return self.err_back(format!("rule {id} already exists"));
        }
        if !self.classes_populated {
            self.classes_populated = true;
            let explicit = std::mem::take(&mut self.class_bucket);
            // crushtool ignores a failure here (a uniform bucket cannot have shadows) and keeps
            // the shadows built before it; a rule taking a missing shadow is refused below.
            let _ = self.map.populate_classes(&explicit);
        }
        let mut steps = Vec::new();
        while self.accept("step") {
            steps.push(self.step(&name)?);
        }
        if steps.is_empty() {
            return self.err(format!("expected 'step', found {}", self.found()));
        }
        self.punct(Tok::Close)?;
        let rule = Rule {
            ruleset: id as u8,
            rule_type,
            min_size,
            max_size,
            steps,
        };
        self.map
            .insert_rule(Some(id), rule)
            .or_else(|e| self.err_back(e.to_string()))?;
        if !name.is_empty() {
            self.map.rule_names.insert(id as i32, name.clone());
            self.rule_names.insert(name, id);
        }
        Ok(())
    }

    fn small(&mut self, what: &str) -> Result<u8, CrushError> {
        let v = self.posint(what)?;
        u8::try_from(v).or_else(|_| self.err_back(format!("{what} {v} is out of range (0-255)")))
    }

    fn step(&mut self, rule: &str) -> Result<Step, CrushError> {
        let op = self.word("step operation")?;
        let tries = |c: &mut Compiler| -> Result<i32, CrushError> {
            let v = c.posint("step value")?;
            i32::try_from(v).or_else(|_| c.err_back(format!("step value {v} is too large")))
        };
        Ok(match op.as_str() {
            "take" => self.take(rule)?,
            "emit" => Step::Emit,
            "noop" => Step::Noop,
            "set_choose_tries" => Step::SetChooseTries(tries(self)?),
            "set_chooseleaf_tries" => Step::SetChooseleafTries(tries(self)?),
            "set_choose_local_tries" => Step::SetChooseLocalTries(tries(self)?),
            "set_choose_local_fallback_tries" => Step::SetChooseLocalFallbackTries(tries(self)?),
            "set_chooseleaf_vary_r" => Step::SetChooseleafVaryR(tries(self)?),
            "set_chooseleaf_stable" => Step::SetChooseleafStable(tries(self)?),
            "choose" | "chooseleaf" => {
                let mode = match self.word("firstn or indep")?.as_str() {
                    "firstn" => ChooseMode::FirstN,
                    "indep" => ChooseMode::Indep,
                    other => {
                        return self.err_back(format!("expected firstn or indep, found '{other}'"))
                    }
                };
                let count = self.int("replica count")?;
                self.keyword("type")?;
                let type_name = self.name("type name")?;
                let Some(&type_id) = self.type_ids.get(&type_name) else {
                    return self
                        .err_back(format!("in rule '{rule}' type '{type_name}' not defined"));
                };
                Step::Choose {
                    mode,
                    leaf: op == "chooseleaf",
                    count,
                    type_id,
                }
            }
            other => return self.err_back(format!("unknown step '{other}'")),
        })
    }

    fn take(&mut self, rule: &str) -> Result<Step, CrushError> {
        let item_name = self.name("item name")?;
        let Some(&item) = self.item_ids.get(&item_name) else {
            return self.err_back(format!("in rule '{rule}' item '{item_name}' not defined"));
        };
        if !self.accept("class") {
            return Ok(Step::Take(item));
        }
        let class = self.name("device class")?;
        let Some(cid) = self.map.class_id(&class) else {
            return self.err_back(format!("in rule '{rule}' class '{class}' not defined"));
        };
        match self.map.shadow_bucket(item, cid) {
            Some(shadow) => Ok(Step::Take(shadow)),
            None => self.err_back(format!(
                "in rule '{rule}' step take {item_name} has no bucket for class {class}"
            )),
        }
    }

    fn choose_args(&mut self) -> Result<(), CrushError> {
        self.keyword("choose_args")?;
        let index = i64::from(self.posint("choose_args index")?);
        if self.map.choose_args.contains_key(&index) {
            return self.err_back(format!("choose_args {index} duplicated"));
        }
        self.punct(Tok::Open)?;
        let mut args = ChooseArgMap::default();
        while self.accept_punct(Tok::Open) {
            self.keyword("bucket_id")?;
            let id = self.int("bucket id")?;
            let Some(size) = self.map.bucket(id).map(Bucket::size) else {
                return self.err_back(format!("choose_args bucket {id} does not exist"));
            };
            // A bucket named twice keeps what the second entry does not replace (as crushtool).
            let mut arg = args.get(id).cloned().unwrap_or_default();
            if self.accept("weight_set") {
                arg.weight_set.clear();
                self.punct(Tok::OpenBracket)?;
                while self.accept_punct(Tok::OpenBracket) {
                    let mut ws = Vec::new();
                    while !self.accept_punct(Tok::CloseBracket) {
                        ws.push(self.weight("weight")?);
                    }
                    if ws.len() != size {
                        return self.err_back(format!(
                            "{id} needs exactly {size} weights but got {}",
                            ws.len()
                        ));
                    }
                    arg.weight_set.push(ws);
                }
                self.punct(Tok::CloseBracket)?;
            }
            if self.accept("ids") {
                arg.ids.clear();
                self.punct(Tok::OpenBracket)?;
                while !self.accept_punct(Tok::CloseBracket) {
                    arg.ids.push(self.int("id")?);
                }
                if arg.ids.len() != size {
                    return self.err_back(format!(
                        "{id} needs exactly {size} ids but got {}",
                        arg.ids.len()
                    ));
                }
            }
            self.punct(Tok::Close)?;
            args.set(id, arg);
        }
        self.punct(Tok::Close)?;
        self.map.choose_args.insert(index, args);
        Ok(())
    }
}
