//! Users, groups and the user an image runs as, declared instead of made by
//! install scripts (which are never run).
//!
//! [`apply`] merges the declared accounts into the base image's
//! `/etc/passwd`, `/etc/group` and, where the base has them, `/etc/shadow`
//! and `/etc/gshadow`: every existing line is kept byte for byte, new
//! entries are appended in declaration order. A declared account equal to
//! one the base already has is not written twice; a clash of name or id
//! with a different definition is an error naming both.
//!
//! Defaults follow apko: a user's `gid` defaults to its `uid`, `home` to
//! `/home/<username>`, `shell` to `/bin/sh`; passwords are locked (`!` in
//! shadow, `x` in passwd). `run_as` gives the config's `User` as the
//! numeric id (`uid` or `uid:gid`) as apko does, so that a runtime's
//! "run as non-root" check can verify it without reading `/etc/passwd`.

use std::collections::BTreeSet;
use std::fmt;

use crate::layer::{BaseFs, BaseKind};
use oci_image::rootfs::{walk, Step};

/// A user to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub username: String,
    /// User id.
    pub uid: u32,
    /// Primary group id; `uid` when not given.
    pub gid: Option<u32>,
    /// Home directory (absolute); `/home/<username>` when not given.
    pub home: Option<String>,
    /// Login shell (absolute); `/bin/sh` when not given.
    pub shell: Option<String>,
}

impl User {
    /// The primary group id (`gid`, else `uid`).
    pub fn primary_gid(&self) -> u32 {
        self.gid.unwrap_or(self.uid)
    }

    /// The home directory (`home`, else `/home/<username>`).
    pub fn home_dir(&self) -> String {
        self.home
            .clone()
            .unwrap_or_else(|| format!("/home/{}", self.username))
    }

    /// The shell (`shell`, else `/bin/sh`).
    pub fn login_shell(&self) -> &str {
        self.shell.as_deref().unwrap_or("/bin/sh")
    }

    /// The `/etc/passwd` line, without newline.
    pub fn passwd_line(&self) -> String {
        format!(
            "{}:x:{}:{}::{}:{}",
            self.username,
            self.uid,
            self.primary_gid(),
            self.home_dir(),
            self.login_shell()
        )
    }
}

/// A group to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Group name.
    pub groupname: String,
    /// Group id.
    pub gid: u32,
    /// Member user names.
    pub members: Vec<String>,
}

impl Group {
    /// The `/etc/group` line, without newline.
    pub fn group_line(&self) -> String {
        format!(
            "{}:x:{}:{}",
            self.groupname,
            self.gid,
            self.members.join(",")
        )
    }
}

/// `[image.accounts]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accounts {
    /// Users to add, in order.
    pub users: Vec<User>,
    /// Groups to add, in order.
    pub groups: Vec<Group>,
    /// `name`, `uid`, `name:group` or `uid:gid`: the config's `User`.
    pub run_as: Option<String>,
}

impl Accounts {
    /// True when nothing is declared.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty() && self.run_as.is_none()
    }
}

/// The account files of the base image (`None`: the base has no such
/// file).
#[derive(Clone, Copy, Debug, Default)]
pub struct BaseAccounts<'a> {
    /// `/etc/passwd`.
    pub passwd: Option<&'a [u8]>,
    /// `/etc/group`.
    pub group: Option<&'a [u8]>,
    /// `/etc/shadow`.
    pub shadow: Option<&'a [u8]>,
    /// `/etc/gshadow`.
    pub gshadow: Option<&'a [u8]>,
}

/// A home directory to create in the layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HomeDir {
    /// Path inside the image, without leading `/` (`home/appuser`).
    pub path: String,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Permission bits (`0o700`, as apko; missing parents are `0o755`).
    pub mode: u32,
}

/// What the layer gets from [`apply`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountFiles {
    /// Files to write (path without leading `/`, whole content), only those
    /// that change. Keep the base's mode and owner when it has the file;
    /// else `0644` root (passwd, group) or `0640` root (shadow, gshadow).
    pub files: Vec<(String, Vec<u8>)>,
    /// Home directories the base does not have yet.
    pub homes: Vec<HomeDir>,
    /// The config's `User`, when `run_as` is declared.
    pub config_user: Option<String>,
    /// Things the user should know that do not stop the build.
    pub warnings: Vec<String>,
}

/// Which declared item an [`AccountError`] is about, for its span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// `users[i]`.
    User(usize),
    /// `groups[i]`.
    Group(usize),
    /// `run_as`.
    RunAs,
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::User(i) => write!(f, "accounts.users[{i}]"),
            Item::Group(i) => write!(f, "accounts.groups[{i}]"),
            Item::RunAs => f.write_str("accounts.run_as"),
        }
    }
}

/// A declared account that cannot be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{item}: {message}")]
pub struct AccountError {
    /// The declared item at fault.
    pub item: Item,
    /// What is wrong, naming both sides of a clash.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

/// Checks names and paths of `accounts` alone (no base needed): every
/// problem, in declaration order.
pub fn validate(accounts: &Accounts) -> Vec<AccountError> {
    let mut errors = Vec::new();
    let mut err = |item: Item, message: String, help: Option<&str>| {
        errors.push(AccountError {
            item,
            message,
            help: help.map(str::to_owned),
        })
    };
    const NAME_HELP: &str =
        "use 1 to 32 of a-z A-Z 0-9 _ . -, not starting with `-` and not only digits";
    for (i, u) in accounts.users.iter().enumerate() {
        if !is_valid_name(&u.username) {
            err(
                Item::User(i),
                format!("invalid user name `{}`", escape(&u.username)),
                Some(NAME_HELP),
            );
        }
        for (what, value) in [("uid", Some(u.uid)), ("gid", u.gid)] {
            if value == Some(u32::MAX) {
                err(
                    Item::User(i),
                    format!("{what} 4294967295 is reserved (it means \"no id\")"),
                    None,
                );
            }
        }
        if let Some(home) = &u.home {
            if !is_valid_path(home) {
                err(
                    Item::User(i),
                    format!("home `{}` is not a clean absolute path", escape(home)),
                    Some("write an absolute path without `..`, `:` or control characters"),
                );
            }
        }
        if let Some(shell) = &u.shell {
            if !is_valid_path(shell) || shell == "/" {
                err(
                    Item::User(i),
                    format!("shell `{}` is not a clean absolute path", escape(shell)),
                    Some("e.g. `/bin/sh` or `/sbin/nologin`"),
                );
            }
        }
        if let Some(j) = accounts.users[..i]
            .iter()
            .position(|o| o.username == u.username || o.uid == u.uid)
        {
            err(
                Item::User(i),
                format!(
                    "user `{}` (uid {}) clashes with accounts.users[{j}] `{}` (uid {})",
                    escape(&u.username),
                    u.uid,
                    escape(&accounts.users[j].username),
                    accounts.users[j].uid
                ),
                Some("user names and uids must be unique"),
            );
        }
    }
    for (i, g) in accounts.groups.iter().enumerate() {
        if !is_valid_name(&g.groupname) {
            err(
                Item::Group(i),
                format!("invalid group name `{}`", escape(&g.groupname)),
                Some(NAME_HELP),
            );
        }
        if g.gid == u32::MAX {
            err(
                Item::Group(i),
                "gid 4294967295 is reserved (it means \"no id\")".into(),
                None,
            );
        }
        for m in &g.members {
            if !is_valid_name(m) {
                err(
                    Item::Group(i),
                    format!("invalid member name `{}`", escape(m)),
                    Some(NAME_HELP),
                );
            }
        }
        if let Some(j) = accounts.groups[..i]
            .iter()
            .position(|o| o.groupname == g.groupname || o.gid == g.gid)
        {
            err(
                Item::Group(i),
                format!(
                    "group `{}` (gid {}) clashes with accounts.groups[{j}] `{}` (gid {})",
                    escape(&g.groupname),
                    g.gid,
                    escape(&accounts.groups[j].groupname),
                    accounts.groups[j].gid
                ),
                Some("group names and gids must be unique"),
            );
        }
    }
    if let Some(run_as) = &accounts.run_as {
        let ok = match run_as.split_once(':') {
            Some((u, g)) => is_name_or_id(u) && is_name_or_id(g),
            None => is_name_or_id(run_as),
        };
        if !ok {
            err(
                Item::RunAs,
                format!("run_as `{}` is not a user name or uid", escape(run_as)),
                Some("write `name`, `uid`, `name:group` or `uid:gid`"),
            );
        }
    }
    errors
}

/// Merges `accounts` into the base's files. `base_fs` tells which home
/// directories exist already (those are left as they are, as apko does).
/// Returns every error at once.
pub fn apply(
    accounts: &Accounts,
    base: &BaseAccounts<'_>,
    base_fs: &dyn BaseFs,
) -> Result<AccountFiles, Vec<AccountError>> {
    let mut errors = validate(accounts);
    if !errors.is_empty() {
        return Err(errors);
    }
    let base_users = parse_passwd(base.passwd.unwrap_or_default());
    let base_groups = parse_group(base.group.unwrap_or_default());
    let mut out = AccountFiles::default();

    // Users: skip those the base defines identically, refuse clashes.
    let mut new_users = Vec::new();
    for (i, u) in accounts.users.iter().enumerate() {
        let same = |e: &&PasswdEntry| e.name == u.username || e.uid == u.uid;
        match base_users.iter().find(same) {
            Some(e) if e.matches(u) => {}
            Some(e) => errors.push(AccountError {
                item: Item::User(i),
                message: format!(
                    "user `{}` (uid {}, gid {}, home {}, shell {}) clashes with the base's \
                     /etc/passwd line {}: `{}`",
                    escape(&u.username),
                    u.uid,
                    u.primary_gid(),
                    escape(&u.home_dir()),
                    escape(u.login_shell()),
                    e.line,
                    escape(&e.text)
                ),
                help: Some(
                    "choose another name and uid, or declare the user exactly as the base has it"
                        .into(),
                ),
            }),
            None => new_users.push(u),
        }
    }
    let mut new_groups = Vec::new();
    for (i, g) in accounts.groups.iter().enumerate() {
        match base_groups
            .iter()
            .find(|e| e.name == g.groupname || e.gid == g.gid)
        {
            Some(e) if e.name == g.groupname && e.gid == g.gid => {
                let missing: Vec<_> = g
                    .members
                    .iter()
                    .filter(|m| !e.members.contains(m))
                    .collect();
                if !missing.is_empty() {
                    errors.push(AccountError {
                        item: Item::Group(i),
                        message: format!(
                            "group `{}` exists in the base (/etc/group line {}) without member(s) \
                             {}; base entries are never changed",
                            escape(&g.groupname),
                            e.line,
                            missing
                                .iter()
                                .map(|m| format!("`{}`", escape(m)))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        help: Some(
                            "declare a new group for these members, or make it the user's \
                             primary group with `gid`"
                                .into(),
                        ),
                    });
                }
            }
            Some(e) => errors.push(AccountError {
                item: Item::Group(i),
                message: format!(
                    "group `{}` (gid {}) clashes with the base's /etc/group line {}: `{}`",
                    escape(&g.groupname),
                    g.gid,
                    e.line,
                    escape(&e.text)
                ),
                help: Some("choose another group name and gid".into()),
            }),
            None => new_groups.push(g),
        }
    }

    // Home directories: the base's are kept; a non-directory is an error.
    for (i, u) in accounts.users.iter().enumerate() {
        let home = u.home_dir();
        if home == "/dev/null" {
            continue;
        }
        let rel = home.trim_start_matches('/').trim_end_matches('/');
        if rel.is_empty() {
            continue;
        }
        match resolve_in_base(base_fs, rel) {
            Ok(Some(BaseKind::Dir)) => {}
            Ok(Some(kind)) => errors.push(AccountError {
                item: Item::User(i),
                message: format!(
                    "home `{}` of user `{}` is a {} in the base image, not a directory",
                    escape(&home),
                    escape(&u.username),
                    match kind {
                        BaseKind::File => "file",
                        BaseKind::Symlink(_) => "dangling or looping symbolic link",
                        _ => "special file",
                    }
                ),
                help: Some("choose another `home`".into()),
            }),
            Err(why) => errors.push(AccountError {
                item: Item::User(i),
                message: format!(
                    "home `{}` of user `{}` cannot be created in the base image: {why}",
                    escape(&home),
                    escape(&u.username),
                ),
                help: Some("choose another `home`".into()),
            }),
            Ok(None) => {
                if !out.homes.iter().any(|h| h.path == rel) {
                    out.homes.push(HomeDir {
                        path: rel.to_owned(),
                        uid: u.uid,
                        gid: u.primary_gid(),
                        mode: 0o700,
                    });
                }
            }
        }
    }

    // run_as → numeric User.
    if let Some(run_as) = &accounts.run_as {
        match resolve_run_as(run_as, accounts, &base_users, &base_groups) {
            Ok(user) => out.config_user = Some(user),
            Err(message) => errors.push(AccountError {
                item: Item::RunAs,
                message,
                help: Some("declare the user in accounts.users, or give a numeric uid".into()),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // Warnings: a primary group or a member nobody defines.
    let group_known = |gid: u32| {
        base_groups.iter().any(|g| g.gid == gid) || accounts.groups.iter().any(|g| g.gid == gid)
    };
    let user_known = |name: &str| {
        base_users.iter().any(|u| u.name == name)
            || accounts.users.iter().any(|u| u.username == name)
    };
    for u in &new_users {
        if !group_known(u.primary_gid()) {
            out.warnings.push(format!(
                "user `{}`: primary group {} is not defined in /etc/group; declare it in \
                 accounts.groups so that tools show its name",
                escape(&u.username),
                u.primary_gid()
            ));
        }
    }
    for g in &accounts.groups {
        for m in g.members.iter().filter(|m| !user_known(m)) {
            out.warnings.push(format!(
                "group `{}`: member `{}` is not a user of the image",
                escape(&g.groupname),
                escape(m)
            ));
        }
    }

    // Files: only those that change.
    let user_lines: Vec<String> = new_users.iter().map(|u| u.passwd_line()).collect();
    let group_lines: Vec<String> = new_groups.iter().map(|g| g.group_line()).collect();
    if !user_lines.is_empty() {
        out.files
            .push(("etc/passwd".into(), append_lines(base.passwd, &user_lines)));
        if let Some(shadow) = base.shadow {
            let have: BTreeSet<&[u8]> = shadow
                .split(|&b| b == b'\n')
                .filter_map(first_field)
                .collect();
            let lines: Vec<String> = new_users
                .iter()
                .filter(|u| !have.contains(u.username.as_bytes()))
                .map(|u| format!("{}:!:::::::", u.username))
                .collect();
            if !lines.is_empty() {
                out.files
                    .push(("etc/shadow".into(), append_lines(Some(shadow), &lines)));
            }
        }
    }
    if !group_lines.is_empty() {
        out.files
            .push(("etc/group".into(), append_lines(base.group, &group_lines)));
        if let Some(gshadow) = base.gshadow {
            let have: BTreeSet<&[u8]> = gshadow
                .split(|&b| b == b'\n')
                .filter_map(first_field)
                .collect();
            let lines: Vec<String> = new_groups
                .iter()
                .filter(|g| !have.contains(g.groupname.as_bytes()))
                .map(|g| format!("{}:!::{}", g.groupname, g.members.join(",")))
                .collect();
            if !lines.is_empty() {
                out.files
                    .push(("etc/gshadow".into(), append_lines(Some(gshadow), &lines)));
            }
        }
    }
    Ok(out)
}

fn resolve_run_as(
    run_as: &str,
    accounts: &Accounts,
    base_users: &[PasswdEntry],
    base_groups: &[GroupEntry],
) -> Result<String, String> {
    let (user, group) = match run_as.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (run_as, None),
    };
    let uid = match user.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) => accounts
            .users
            .iter()
            .find(|u| u.username == user)
            .map(|u| u.uid)
            .or_else(|| base_users.iter().find(|u| u.name == user).map(|u| u.uid))
            .ok_or_else(|| {
                format!(
                    "run_as user `{}` is neither declared nor in the base's /etc/passwd",
                    escape(user)
                )
            })?,
    };
    let Some(group) = group else {
        return Ok(uid.to_string());
    };
    let gid = match group.parse::<u32>() {
        Ok(gid) => gid,
        Err(_) => accounts
            .groups
            .iter()
            .find(|g| g.groupname == group)
            .map(|g| g.gid)
            .or_else(|| base_groups.iter().find(|g| g.name == group).map(|g| g.gid))
            .ok_or_else(|| {
                format!(
                    "run_as group `{}` is neither declared nor in the base's /etc/group",
                    escape(group)
                )
            })?,
    };
    Ok(format!("{uid}:{gid}"))
}

/// What `path` is in the base after following every symbolic link (a link
/// to a directory of the base is that directory); `None` when nothing is
/// there, a link when it dangles.
fn resolve_in_base(base_fs: &dyn BaseFs, path: &str) -> Result<Option<BaseKind>, String> {
    let step = |p: &str| match base_fs.kind(p) {
        None => Step::Missing,
        Some(BaseKind::Dir) => Step::Dir,
        Some(BaseKind::Symlink(t)) => Step::Symlink(t),
        Some(_) => Step::Other,
    };
    let walked = walk(&step, path, true, true).map_err(|e| e.reason())?;
    if !walked.exists {
        // A dangling link somewhere on the way still leaves a link at `path`.
        return Ok(match base_fs.kind(path) {
            Some(k @ BaseKind::Symlink(_)) => Some(k),
            _ => None,
        });
    }
    Ok(base_fs.kind(&walked.path))
}

/// `base` (a trailing newline added when missing) followed by `lines`.
fn append_lines(base: Option<&[u8]>, lines: &[String]) -> Vec<u8> {
    let mut out = base.unwrap_or_default().to_vec();
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    out
}

fn first_field(line: &[u8]) -> Option<&[u8]> {
    line.split(|&b| b == b':').next().filter(|f| !f.is_empty())
}

/// One parsed `/etc/passwd` line.
#[derive(Debug)]
struct PasswdEntry {
    line: usize,
    text: String,
    name: String,
    uid: u32,
    gid: u32,
    home: String,
    shell: String,
}

impl PasswdEntry {
    fn matches(&self, u: &User) -> bool {
        self.name == u.username
            && self.uid == u.uid
            && self.gid == u.primary_gid()
            && self.home == u.home_dir()
            && self.shell == u.login_shell()
    }
}

/// One parsed `/etc/group` line.
#[derive(Debug)]
struct GroupEntry {
    line: usize,
    text: String,
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Lines of `passwd` with 7 fields and numeric ids; others (comments, NIS
/// `+` entries, garbage) are kept in the file but define nothing.
fn parse_passwd(text: &[u8]) -> Vec<PasswdEntry> {
    lines(text)
        .filter_map(|(line, text)| {
            let f: Vec<&str> = text.split(':').collect();
            (f.len() == 7).then_some(())?;
            Some(PasswdEntry {
                line,
                name: f[0].to_owned(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_owned(),
                shell: f[6].to_owned(),
                text: text.to_owned(),
            })
        })
        .collect()
}

fn parse_group(text: &[u8]) -> Vec<GroupEntry> {
    lines(text)
        .filter_map(|(line, text)| {
            let f: Vec<&str> = text.split(':').collect();
            (f.len() == 4).then_some(())?;
            Some(GroupEntry {
                line,
                name: f[0].to_owned(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect(),
                text: text.to_owned(),
            })
        })
        .collect()
}

/// Non-empty lines with their 1-based numbers (invalid UTF-8 is replaced;
/// such lines still never match a valid declared name).
fn lines(text: &[u8]) -> impl Iterator<Item = (usize, &str)> {
    text.split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, l)| Some((i + 1, std::str::from_utf8(l).ok()?)))
        .map(|(i, l)| (i, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.is_empty())
}

/// A user or group name: 1–32 of `A-Za-z0-9_.-`, not starting with `-`,
/// not all digits (it would read as an id).
pub fn is_valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && !name.starts_with('-')
        && !name.bytes().all(|b| b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn is_name_or_id(s: &str) -> bool {
    s.parse::<u32>().is_ok_and(|n| n != u32::MAX) || is_valid_name(s)
}

/// An absolute path without `.`/`..` components, `:`, control characters
/// or empty components.
fn is_valid_path(p: &str) -> bool {
    p.starts_with('/')
        && p.len() <= 4096
        && !p.chars().any(|c| c == ':' || c.is_control())
        && (p == "/"
            || p[1..]
                .trim_end_matches('/')
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."))
}

fn escape(s: &str) -> String {
    assemble_io::escape::escape(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        # a comment kept as is\n\
        nobody:x:65534:65534:nobody:/:/sbin/nologin\n";
    const GROUP: &str = "root:x:0:root\nwheel:x:10:root\nnogroup:x:65533:\n";
    const SHADOW: &str = "root:*::0:::::\nnobody:!::0:::::\n";

    fn user(name: &str, uid: u32) -> User {
        User {
            username: name.into(),
            uid,
            gid: None,
            home: None,
            shell: None,
        }
    }

    fn group_(name: &str, gid: u32) -> Group {
        group(name, gid, &[])
    }

    fn group(name: &str, gid: u32, members: &[&str]) -> Group {
        Group {
            groupname: name.into(),
            gid,
            members: members.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn base() -> BaseAccounts<'static> {
        BaseAccounts {
            passwd: Some(PASSWD.as_bytes()),
            group: Some(GROUP.as_bytes()),
            shadow: Some(SHADOW.as_bytes()),
            gshadow: None,
        }
    }

    fn file<'a>(out: &'a AccountFiles, path: &str) -> Option<&'a str> {
        out.files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, c)| std::str::from_utf8(c).unwrap())
    }

    /// A base with nothing in it.
    struct EmptyBase;
    impl BaseFs for EmptyBase {
        fn kind(&self, _: &str) -> Option<BaseKind> {
            None
        }
    }

    /// A base with `/home` and `/srv/app` as directories, `/srv/file` a file.
    struct Fs;
    impl BaseFs for Fs {
        fn kind(&self, path: &str) -> Option<BaseKind> {
            match path {
                "home" | "srv" | "srv/app" | "" => Some(BaseKind::Dir),
                "srv/file" => Some(BaseKind::File),
                "srv/link" => Some(BaseKind::Symlink("app".into())),
                "srv/dangling" => Some(BaseKind::Symlink("/nowhere".into())),
                _ => None,
            }
        }
    }

    #[test]
    fn appends_with_apko_defaults_and_keeps_base_bytes() {
        let accounts = Accounts {
            users: vec![
                user("appuser", 1000),
                User {
                    gid: Some(2000),
                    home: Some("/srv/app".into()),
                    shell: Some("/sbin/nologin".into()),
                    ..user("svc", 1001)
                },
            ],
            groups: vec![group("app", 1000, &["appuser", "svc"])],
            run_as: Some("appuser".into()),
        };
        let out = apply(&accounts, &base(), &Fs).unwrap();
        let passwd = file(&out, "etc/passwd").unwrap();
        assert!(passwd.starts_with(PASSWD), "base bytes kept: {passwd}");
        assert_eq!(
            &passwd[PASSWD.len()..],
            "appuser:x:1000:1000::/home/appuser:/bin/sh\n\
             svc:x:1001:2000::/srv/app:/sbin/nologin\n"
        );
        assert_eq!(
            file(&out, "etc/group").unwrap(),
            format!("{GROUP}app:x:1000:appuser,svc\n")
        );
        assert_eq!(
            file(&out, "etc/shadow").unwrap(),
            format!("{SHADOW}appuser:!:::::::\nsvc:!:::::::\n")
        );
        assert_eq!(file(&out, "etc/gshadow"), None, "the base has none");
        // /srv/app exists: only appuser's home is created.
        assert_eq!(
            out.homes,
            [HomeDir {
                path: "home/appuser".into(),
                uid: 1000,
                gid: 1000,
                mode: 0o700
            }]
        );
        assert_eq!(out.config_user.as_deref(), Some("1000"));
        // svc's primary group 2000 exists nowhere.
        assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
        assert!(out.warnings[0].contains("2000"));
    }

    #[test]
    fn no_base_files_and_missing_trailing_newline() {
        let accounts = Accounts {
            users: vec![user("a", 10)],
            groups: vec![group("g", 10, &["a"])],
            run_as: None,
        };
        let out = apply(&accounts, &BaseAccounts::default(), &EmptyBase).unwrap();
        assert_eq!(
            file(&out, "etc/passwd").unwrap(),
            "a:x:10:10::/home/a:/bin/sh\n"
        );
        assert_eq!(file(&out, "etc/group").unwrap(), "g:x:10:a\n");
        assert_eq!(
            file(&out, "etc/shadow"),
            None,
            "no shadow where the base has none"
        );
        assert_eq!(out.homes[0].path, "home/a");

        let base = BaseAccounts {
            passwd: Some(b"root:x:0:0::/root:/bin/sh"),
            group: Some(b"root:x:0:\r\n"),
            shadow: None,
            gshadow: Some(b"root:::"),
        };
        let out = apply(&accounts, &base, &EmptyBase).unwrap();
        assert_eq!(
            file(&out, "etc/passwd").unwrap(),
            "root:x:0:0::/root:/bin/sh\na:x:10:10::/home/a:/bin/sh\n"
        );
        assert_eq!(file(&out, "etc/group").unwrap(), "root:x:0:\r\ng:x:10:a\n");
        assert_eq!(file(&out, "etc/gshadow").unwrap(), "root:::\ng:!::a\n");
    }

    #[test]
    fn identical_entries_are_not_repeated() {
        let base = BaseAccounts {
            passwd: Some(b"nonroot:x:65532:65532::/home/nonroot:/bin/sh\n"),
            group: Some(b"nonroot:x:65532:nonroot\n"),
            ..Default::default()
        };
        let accounts = Accounts {
            users: vec![user("nonroot", 65532)],
            groups: vec![group("nonroot", 65532, &["nonroot"])],
            run_as: Some("nonroot:nonroot".into()),
        };
        let out = apply(&accounts, &base, &Fs).unwrap();
        assert!(out.files.is_empty(), "{:?}", out.files);
        assert_eq!(out.config_user.as_deref(), Some("65532:65532"));
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn clashes_name_both_sides() {
        let accounts = Accounts {
            users: vec![user("root", 1000), user("other", 65534)],
            groups: vec![
                group("wheel", 11, &[]),
                group("staff", 10, &[]),
                group("nogroup", 65533, &["x"]),
            ],
            run_as: Some("ghost".into()),
        };
        let errors = apply(&accounts, &base(), &Fs).unwrap_err();
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 6, "{text:#?}");
        assert_eq!(errors[0].item, Item::User(0));
        assert!(
            text[0].contains("`root` (uid 1000")
                && text[0].contains("line 1: `root:x:0:0:root:/root:/bin/sh`"),
            "{}",
            text[0]
        );
        assert!(
            text[1].contains("`other` (uid 65534") && text[1].contains("line 3: `nobody:"),
            "{}",
            text[1]
        );
        assert!(
            text[2].contains("`wheel` (gid 11)") && text[2].contains("`wheel:x:10:root`"),
            "{}",
            text[2]
        );
        assert!(
            text[3].contains("`staff` (gid 10)") && text[3].contains("`wheel:x:10:root`"),
            "{}",
            text[3]
        );
        assert!(text[4].contains("without member(s) `x`"), "{}", text[4]);
        assert_eq!(errors[5].item, Item::RunAs);
        assert!(text[5].contains("`ghost`"));
    }

    #[test]
    fn declaration_errors_all_at_once() {
        let accounts = Accounts {
            users: vec![
                user("ok", 1),
                user("ok", 2),
                user("bad:name", 3),
                User {
                    home: Some("/home/../etc".into()),
                    shell: Some("sh".into()),
                    ..user("x", 4)
                },
                user("123", 5),
                user("y", u32::MAX),
                user("z", 1),
            ],
            groups: vec![group("g", 1, &["a,b"]), group("g", 2, &[])],
            run_as: Some("a:b:c".into()),
        };
        let errors = validate(&accounts);
        let items: Vec<String> = errors.iter().map(|e| e.item.to_string()).collect();
        assert_eq!(
            items,
            [
                "accounts.users[1]",
                "accounts.users[2]",
                "accounts.users[3]",
                "accounts.users[3]",
                "accounts.users[4]",
                "accounts.users[5]",
                "accounts.users[6]",
                "accounts.groups[0]",
                "accounts.groups[1]",
                "accounts.run_as"
            ],
            "{errors:#?}"
        );
        assert!(apply(&accounts, &base(), &Fs).is_err());
    }

    #[test]
    fn homes_that_are_not_directories() {
        let with_home = |home: &str| Accounts {
            users: vec![User {
                home: Some(home.into()),
                ..user("a", 10)
            }],
            ..Default::default()
        };
        let errors = apply(&with_home("/srv/file"), &base(), &Fs).unwrap_err();
        assert!(errors[0].message.contains("is a file"), "{errors:?}");
        let errors = apply(&with_home("/srv/dangling"), &base(), &Fs).unwrap_err();
        assert!(errors[0].message.contains("symbolic link"), "{errors:?}");
        // A link to a directory is fine, and nothing is created.
        let out = apply(&with_home("/srv/link"), &base(), &Fs).unwrap();
        assert!(out.homes.is_empty());
        // Under a linked directory: created at the path as written.
        let out = apply(&with_home("/srv/link/a"), &base(), &Fs).unwrap();
        assert_eq!(out.homes[0].path, "srv/link/a");
    }

    proptest::proptest! {
        /// Whatever the base files hold, they stay a byte-for-byte prefix
        /// of what is written, and each new entry is one whole line.
        #[test]
        fn base_bytes_are_a_prefix(passwd in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
                                   group in "[a-z0-9:,\\n]{0,80}") {
            let base = BaseAccounts {
                passwd: Some(&passwd),
                group: Some(group.as_bytes()),
                shadow: Some(&passwd),
                gshadow: None,
            };
            let accounts = Accounts {
                users: vec![user("zz-new", 4_000_000)],
                groups: vec![group_("zz-new", 4_000_000)],
                run_as: None,
            };
            if let Ok(out) = apply(&accounts, &base, &EmptyBase) {
                for (path, content) in &out.files {
                    let before: &[u8] = match path.as_str() {
                        "etc/passwd" | "etc/shadow" => &passwd,
                        _ => group.as_bytes(),
                    };
                    proptest::prop_assert!(content.starts_with(before));
                    let added = &content[before.len()..];
                    let added = added.strip_prefix(b"\n").unwrap_or(added);
                    proptest::prop_assert!(added.ends_with(b"\n"));
                    proptest::prop_assert!(std::str::from_utf8(added).unwrap().starts_with("zz-new:"));
                }
            }
        }
    }

    #[test]
    fn run_as_forms() {
        let accounts = |run_as: &str| Accounts {
            users: vec![user("app", 1000)],
            groups: vec![group("app", 1001, &[])],
            run_as: Some(run_as.into()),
        };
        let user_of = |r: &str| apply(&accounts(r), &base(), &Fs).map(|o| o.config_user.unwrap());
        assert_eq!(user_of("app").unwrap(), "1000");
        assert_eq!(user_of("app:app").unwrap(), "1000:1001");
        assert_eq!(user_of("root:wheel").unwrap(), "0:10");
        assert_eq!(
            user_of("4242").unwrap(),
            "4242",
            "numeric ids need no entry"
        );
        assert_eq!(user_of("4242:7").unwrap(), "4242:7");
        assert!(user_of("app:nogroup2").is_err());
    }

    #[test]
    fn names_and_paths() {
        for ok in ["a", "app-user", "_svc", "a.b", "x1", &"a".repeat(32)] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a:b",
            "a,b",
            "a b",
            "a\n",
            "1234",
            &"a".repeat(33),
            "é",
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
        for ok in ["/", "/home/a", "/srv/app/", "/dev/null"] {
            assert!(is_valid_path(ok), "{ok}");
        }
        for bad in ["", "home", "/a/../b", "/a/./b", "/a//b", "/a:b", "/a\nb"] {
            assert!(!is_valid_path(bad), "{bad:?}");
        }
    }
}
