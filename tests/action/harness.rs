//! Runs a composite action's steps the way the GitHub runner does, without
//! the runner: `bash --noprofile --norc -eo pipefail FILE` per `run:` step in
//! the workspace, `uses:` steps skipped (their `if:` and `with:` still
//! evaluated), `${{ … }}` evaluated only where the runner evaluates them
//! (`env:`, `with:`, `if:`, input defaults, outputs) — a `run:` holding one
//! fails the test, since that is how script injection happens — and the
//! file commands: `GITHUB_OUTPUT` (step outputs), `GITHUB_ENV`,
//! `GITHUB_PATH` (later steps), `GITHUB_STEP_SUMMARY` (the job summary).
//! Composite actions do not get `INPUT_*` variables; neither do these steps.
//!
//! Expressions: literals, `inputs.*`, `github.*`, `runner.*`, `env.*`,
//! `steps.<id>.outputs.*`/`outcome`, `!`, `==`/`!=` (strings compared
//! case-insensitively, as GitHub does), `&&`, `||`, parentheses and the
//! status functions. Anything else panics, so the harness never guesses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

/// The parsed `action.yml`.
pub struct Action {
    /// The action's directory (`GITHUB_ACTION_PATH`).
    pub dir: PathBuf,
    /// The document.
    pub doc: Yaml,
}

impl Action {
    /// Loads `dir/action.yml`.
    pub fn load(dir: &Path) -> Action {
        let text = std::fs::read_to_string(dir.join("action.yml")).unwrap();
        let doc = YamlLoader::load_from_str(&text)
            .unwrap()
            .into_iter()
            .next()
            .unwrap();
        assert_eq!(doc["runs"]["using"].as_str(), Some("composite"));
        Action {
            dir: dir.to_owned(),
            doc,
        }
    }

    /// The steps of `runs.steps`.
    pub fn steps(&self) -> &[Yaml] {
        self.doc["runs"]["steps"].as_vec().unwrap()
    }

    /// Input names.
    pub fn inputs(&self) -> Vec<String> {
        keys(&self.doc["inputs"])
    }
}

/// The keys of a mapping, as strings.
pub fn keys(y: &Yaml) -> Vec<String> {
    y.as_hash()
        .map(|h| h.keys().map(scalar).collect())
        .unwrap_or_default()
}

/// A scalar as the runner sees it (a string).
pub fn scalar(y: &Yaml) -> String {
    match y {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null | Yaml::BadValue => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// One run of the action: what the workflow gives it.
pub struct Invocation {
    /// `with:` values (others take their defaults).
    pub with: BTreeMap<String, String>,
    /// The `github` context (`event_name`, `token`, `action_ref`, …).
    pub github: BTreeMap<String, String>,
    /// The step environment before the action's own `env:` (PATH, HOME,
    /// GITHUB_* variables the runner sets, …). Nothing else is inherited.
    pub env: BTreeMap<String, String>,
    /// `GITHUB_WORKSPACE`: where steps run.
    pub workspace: PathBuf,
    /// `RUNNER_TEMP`: the file commands' files live here too.
    pub runner_temp: PathBuf,
}

/// What one step did.
#[derive(Debug)]
pub struct StepResult {
    /// `id:`, or `#N`.
    pub id: String,
    /// Ran a script (false: skipped by `if:`, or a `uses:` step).
    pub ran: bool,
    /// A `uses:` step (never run here).
    pub uses: Option<String>,
    /// Exit code of the script.
    pub status: Option<i32>,
    /// Standard output and error, as the log shows them.
    pub log: String,
    /// `GITHUB_OUTPUT` entries.
    pub outputs: BTreeMap<String, String>,
}

/// What the action did.
#[derive(Debug)]
pub struct Outcome {
    /// Every step.
    pub steps: Vec<StepResult>,
    /// The action's outputs.
    pub outputs: BTreeMap<String, String>,
    /// The job summary (every step's `GITHUB_STEP_SUMMARY`).
    pub summary: String,
    /// All the steps' logs, in order.
    pub log: String,
    /// No step failed.
    pub success: bool,
}

impl Outcome {
    /// The step with `id`.
    pub fn step(&self, id: &str) -> &StepResult {
        self.steps
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no step {id}"))
    }

    /// The action's output `name` ("" when unset).
    pub fn output(&self, name: &str) -> &str {
        self.outputs.get(name).map(String::as_str).unwrap_or("")
    }
}

/// Values expressions see.
struct Contexts<'a> {
    inputs: BTreeMap<String, String>,
    github: &'a BTreeMap<String, String>,
    runner: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
    steps: BTreeMap<String, (String, BTreeMap<String, String>)>,
    failed: bool,
}

/// Runs every step of `action` for `invocation`.
pub fn run(action: &Action, invocation: &Invocation) -> Outcome {
    let runner = BTreeMap::from([
        (
            "temp".to_owned(),
            invocation.runner_temp.display().to_string(),
        ),
        ("os".to_owned(), "Linux".to_owned()),
        ("arch".to_owned(), "X64".to_owned()),
        (
            "tool_cache".to_owned(),
            invocation
                .runner_temp
                .join("toolcache")
                .display()
                .to_string(),
        ),
    ]);
    let mut ctx = Contexts {
        inputs: BTreeMap::new(),
        github: &invocation.github,
        runner,
        env: invocation.env.clone(),
        steps: BTreeMap::new(),
        failed: false,
    };
    // Inputs: what `with:` gives, else the default (which may be an expression).
    for name in action.inputs() {
        let value = match invocation.with.get(&name) {
            Some(v) => v.clone(),
            None => interpolate(
                &scalar(&action.doc["inputs"][name.as_str()]["default"]),
                &ctx,
            ),
        };
        ctx.inputs.insert(name, value);
    }
    for name in invocation.with.keys() {
        assert!(
            ctx.inputs.contains_key(name),
            "`with: {name}` is not an input of the action"
        );
    }

    let files = invocation.runner_temp.join("_runner_file_commands");
    std::fs::create_dir_all(&files).unwrap();
    let mut extra_path: Vec<String> = Vec::new();
    let mut summary = String::new();
    let mut log = String::new();
    let mut steps = Vec::new();
    for (n, step) in action.steps().iter().enumerate() {
        let id = step["id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("#{n}"));
        let condition = step["if"].as_str().map(str::to_owned).unwrap_or_default();
        let run_it = condition_holds(&condition, &ctx);
        let uses = step["uses"].as_str().map(str::to_owned);
        if let Some(with) = step["with"].as_hash() {
            for v in with.values() {
                interpolate(&scalar(v), &ctx);
            }
        }
        let mut result = StepResult {
            id: id.clone(),
            ran: false,
            uses: uses.clone(),
            status: None,
            log: String::new(),
            outputs: BTreeMap::new(),
        };
        if !run_it || uses.is_some() {
            ctx.steps
                .insert(id.clone(), ("skipped".into(), BTreeMap::new()));
            steps.push(result);
            continue;
        }
        let script = step["run"]
            .as_str()
            .expect("a step runs a script or uses an action");
        assert!(
            !script.contains("${{"),
            "step {id}: an expression inside `run:` is a script injection; pass it through `env:`"
        );
        assert_eq!(step["shell"].as_str(), Some("bash"), "step {id}: shell");

        let file = |name: &str| {
            let p = files.join(format!("{name}_{n}"));
            std::fs::write(&p, "").unwrap();
            p
        };
        let (output, env_file, path_file, summary_file) = (
            file("set_output"),
            file("set_env"),
            file("add_path"),
            file("step_summary"),
        );
        let script_file = invocation.runner_temp.join(format!("step_{n}.sh"));
        std::fs::write(&script_file, script).unwrap();

        let mut env = ctx.env.clone();
        if !extra_path.is_empty() {
            let base = env.get("PATH").cloned().unwrap_or_default();
            env.insert("PATH".into(), format!("{}:{base}", extra_path.join(":")));
        }
        env.insert(
            "GITHUB_ACTION_PATH".into(),
            action.dir.display().to_string(),
        );
        env.insert("GITHUB_OUTPUT".into(), output.display().to_string());
        env.insert("GITHUB_ENV".into(), env_file.display().to_string());
        env.insert("GITHUB_PATH".into(), path_file.display().to_string());
        env.insert(
            "GITHUB_STEP_SUMMARY".into(),
            summary_file.display().to_string(),
        );
        if let Some(step_env) = step["env"].as_hash() {
            for (k, v) in step_env {
                env.insert(scalar(k), interpolate(&scalar(v), &ctx));
            }
        }
        let out = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script_file)
            .current_dir(&invocation.workspace)
            .env_clear()
            .envs(&env)
            .output()
            .expect("run bash");
        result.ran = true;
        result.status = out.status.code();
        result.log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        result.outputs = read_key_values(&output);
        for (k, v) in read_key_values(&env_file) {
            ctx.env.insert(k, v);
        }
        for line in std::fs::read_to_string(&path_file).unwrap().lines() {
            if !line.trim().is_empty() {
                extra_path.insert(0, line.trim().to_owned());
            }
        }
        summary.push_str(&std::fs::read_to_string(&summary_file).unwrap());
        log.push_str(&format!("--- step {id}\n{}", result.log));
        let ok = out.status.success();
        ctx.failed |= !ok;
        ctx.steps.insert(
            id.clone(),
            (
                if ok { "success" } else { "failure" }.into(),
                result.outputs.clone(),
            ),
        );
        steps.push(result);
    }
    let mut outputs = BTreeMap::new();
    if let Some(declared) = action.doc["outputs"].as_hash() {
        for (k, v) in declared {
            outputs.insert(scalar(k), interpolate(&scalar(&v["value"]), &ctx));
        }
    }
    Outcome {
        steps,
        outputs,
        summary,
        log,
        success: !ctx.failed,
    }
}

/// Parses a `GITHUB_OUTPUT`/`GITHUB_ENV` file: `k=v` lines and
/// `k<<DELIMITER` … `DELIMITER` blocks.
pub fn read_key_values(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let eq = line.find('=');
        let heredoc = line.find("<<");
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                out.insert(line[..e].to_owned(), line[e + 1..].to_owned());
            }
            (_, Some(h)) => {
                let (key, delimiter) = (&line[..h], &line[h + 2..]);
                let mut value = Vec::new();
                loop {
                    let l = lines
                        .next()
                        .unwrap_or_else(|| panic!("{}: no closing {delimiter}", path.display()));
                    if l == delimiter {
                        break;
                    }
                    value.push(l);
                }
                out.insert(key.to_owned(), value.join("\n"));
            }
            _ => panic!("{}: invalid line {line:?}", path.display()),
        }
    }
    out
}

/// Replaces each `${{ expr }}` of `text` with its value.
pub fn interpolate_with(text: &str, lookup: &dyn Fn(&[String]) -> Value) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("unclosed ${{") + start;
        let value = eval(&rest[start + 3..end], lookup, &|_| false);
        out.push_str(&value.text());
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

fn interpolate(text: &str, ctx: &Contexts<'_>) -> String {
    interpolate_with(text, &|path| lookup(path, ctx))
}

fn condition_holds(condition: &str, ctx: &Contexts<'_>) -> bool {
    let expr = condition.trim();
    let expr = expr
        .strip_prefix("${{")
        .and_then(|e| e.strip_suffix("}}"))
        .unwrap_or(expr);
    if expr.trim().is_empty() {
        return !ctx.failed;
    }
    let mut uses_status = false;
    for f in ["success()", "failure()", "always()", "cancelled()"] {
        uses_status |= expr.contains(f);
    }
    let status = |f: &str| match f {
        "success" => !ctx.failed,
        "failure" => ctx.failed,
        "always" => true,
        "cancelled" => false,
        _ => panic!("unknown function {f}()"),
    };
    let value = eval(expr, &|path| lookup(path, ctx), &status).truthy();
    if uses_status {
        value
    } else {
        !ctx.failed && value
    }
}

fn lookup(path: &[String], ctx: &Contexts<'_>) -> Value {
    let get = |map: &BTreeMap<String, String>, key: &str| {
        map.get(key).cloned().map(Value::Str).unwrap_or(Value::Null)
    };
    match path
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["inputs", name] => match ctx.inputs.get(*name) {
            Some(v) => Value::Str(v.clone()),
            None => panic!("inputs.{name} is not an input of the action"),
        },
        ["github", name] => get(ctx.github, name),
        ["runner", name] => get(&ctx.runner, name),
        ["env", name] => get(&ctx.env, name),
        ["steps", id, "outputs", name] => ctx
            .steps
            .get(*id)
            .map(|(_, o)| get(o, name))
            .unwrap_or(Value::Null),
        ["steps", id, "outcome" | "conclusion"] => ctx
            .steps
            .get(*id)
            .map(|(s, _)| Value::Str(s.clone()))
            .unwrap_or(Value::Null),
        other => panic!("the harness does not know the context {other:?}"),
    }
}

/// An expression's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null` (also what a missing property gives).
    Null,
    /// `true`/`false`.
    Bool(bool),
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
}

impl Value {
    fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Num(n) => *n != 0.0,
            Value::Str(s) => !s.is_empty(),
        }
    }

    fn text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Num(n) => n.to_string(),
            Value::Str(s) => s.clone(),
        }
    }

    fn equals(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => a.eq_ignore_ascii_case(b),
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            // Mixed types: GitHub converts to numbers; enough here to
            // compare texts ("" == null is false, as on GitHub).
            (a, b) => {
                a.text() == b.text() && !matches!((a, b), (Value::Null, _) | (_, Value::Null))
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    Op(&'static str),
}

fn tokens(expr: &str) -> Vec<Token> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        s.push(*c);
                        i += 1;
                    }
                    None => panic!("unterminated string in {expr:?}"),
                }
            }
            out.push(Token::Str(s));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let n: String = chars[start..i].iter().collect();
            out.push(Token::Num(n.parse().unwrap()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '-')
            {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = ["==", "!=", "&&", "||"].into_iter().find(|o| *o == two);
            match op {
                Some(o) => {
                    out.push(Token::Op(o));
                    i += 2;
                }
                None => {
                    let o = match c {
                        '!' => "!",
                        '(' => "(",
                        ')' => ")",
                        '.' => ".",
                        _ => panic!("the harness does not support {c:?} in {expr:?}"),
                    };
                    out.push(Token::Op(o));
                    i += 1;
                }
            }
        }
    }
    out
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    lookup: &'a dyn Fn(&[String]) -> Value,
    status: &'a dyn Fn(&str) -> bool,
}

fn eval(expr: &str, lookup: &dyn Fn(&[String]) -> Value, status: &dyn Fn(&str) -> bool) -> Value {
    let mut p = Parser {
        tokens: tokens(expr),
        pos: 0,
        lookup,
        status,
    };
    let v = p.or();
    assert_eq!(p.pos, p.tokens.len(), "trailing tokens in {expr:?}");
    v
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn eat(&mut self, op: &str) -> bool {
        let hit = matches!(self.peek(), Some(Token::Op(o)) if *o == op);
        self.pos += usize::from(hit);
        hit
    }

    fn or(&mut self) -> Value {
        let mut v = self.and();
        while self.eat("||") {
            let r = self.and();
            v = if v.truthy() { v } else { r };
        }
        v
    }

    fn and(&mut self) -> Value {
        let mut v = self.comparison();
        while self.eat("&&") {
            let r = self.comparison();
            v = if v.truthy() { r } else { v };
        }
        v
    }

    fn comparison(&mut self) -> Value {
        let v = self.unary();
        if self.eat("==") {
            let r = self.unary();
            return Value::Bool(v.equals(&r));
        }
        if self.eat("!=") {
            let r = self.unary();
            return Value::Bool(!v.equals(&r));
        }
        v
    }

    fn unary(&mut self) -> Value {
        if self.eat("!") {
            return Value::Bool(!self.unary().truthy());
        }
        self.primary()
    }

    fn primary(&mut self) -> Value {
        if self.eat("(") {
            let v = self.or();
            assert!(self.eat(")"), "missing )");
            return v;
        }
        match self.tokens.get(self.pos).cloned() {
            Some(Token::Str(s)) => {
                self.pos += 1;
                Value::Str(s)
            }
            Some(Token::Num(n)) => {
                self.pos += 1;
                Value::Num(n)
            }
            Some(Token::Ident(name)) => {
                self.pos += 1;
                match name.as_str() {
                    "true" => return Value::Bool(true),
                    "false" => return Value::Bool(false),
                    "null" => return Value::Null,
                    _ => {}
                }
                if self.eat("(") {
                    assert!(
                        self.eat(")"),
                        "the harness supports only the status functions"
                    );
                    return Value::Bool((self.status)(&name));
                }
                let mut path = vec![name];
                while self.eat(".") {
                    match self.tokens.get(self.pos).cloned() {
                        Some(Token::Ident(p)) => {
                            self.pos += 1;
                            path.push(p);
                        }
                        other => panic!("expected a property name, found {other:?}"),
                    }
                }
                (self.lookup)(&path)
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn expressions_follow_github() {
    let lookup = |p: &[String]| match p.join(".").as_str() {
        "inputs.a" => Value::Str("Yes".into()),
        "inputs.empty" => Value::Str(String::new()),
        _ => Value::Null,
    };
    let e = |s: &str| eval(s, &lookup, &|f| f == "success");
    assert_eq!(e("inputs.a == 'yes'"), Value::Bool(true));
    assert_eq!(e("inputs.empty != ''"), Value::Bool(false));
    assert_eq!(e("inputs.empty || 'dflt'"), Value::Str("dflt".into()));
    assert_eq!(e("!(inputs.a == 'no') && success()"), Value::Bool(true));
    assert_eq!(e("steps.x.outputs.y != 'true'"), Value::Bool(true));
    assert_eq!(
        interpolate_with("a ${{ inputs.a }} b ${{ inputs.missing-one }}", &lookup),
        "a Yes b "
    );
}
