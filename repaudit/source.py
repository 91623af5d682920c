"""Pin the audited code to one commit (clone, mirror or snapshot it) and make clean per-seed checkouts.

With gitrun.py, the only module that runs git. Every kind of target ends as a commit in a private bare
repository under the cache, so ``checkout`` is the same for all of them:

    URL / owner/name[@ref]     bare clone cached under <cache>/clones/, fetched again on reuse
    local git repository       its commits fetched into a private mirror under <cache>/mirrors/;
                               ``ref`` (default: the repository's HEAD) resolved there
    folder inside a repository audited at that repository's commit, ``subdirectory`` set
    uncommitted changes        refused, or with allow_dirty snapshotted into the mirror
    plain folder               snapshotted into <cache>/snapshots/ (no commit pins it: a warning)

Git on the host never runs what the audited repository configures. A repository can arrive with its
own ``.git/config`` (core.fsmonitor, filter drivers, hooks, include paths, credential helpers) and
any of them starts a program of its author's choosing once git reads that config in its folder. So
no git command runs in the audited repository: its commits are copied with ``git fetch``, whose
other end (``git upload-pack``) git keeps safe for untrusted repositories (no hook, no fsmonitor,
no filter; its one command setting, uploadpack.packObjectsHook, is refused from repository config),
and fsmonitor and hooks are switched off on the command line besides. Everything else (status,
snapshots, checkouts) runs in repaudit's own repositories with the system and global configuration
switched off, so no filter driver exists for a ``.gitattributes`` line to name. Only clones of
remote URLs read the auditor's global configuration: its credential helpers and proxies are needed
there, and a bare clone runs no filter.

Repositories are found with gitpython, which reads ``.git`` in Python and runs nothing; every git
command runs through gitrun.py, under repaudit/reaper.py.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import git

from repaudit import gitrun
from repaudit.errors import SourceError, UsageError
from repaudit.model import Source

_URL = re.compile(r"^(?:https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:")
# GitHub shorthand: owner names are alphanumerics and hyphens, so "./x" or "../x" never matches.
_SHORTHAND = re.compile(
    r"^(?P<owner>[A-Za-z0-9][A-Za-z0-9-]*)/(?P<name>[A-Za-z0-9._-]+?)(?:@(?P<ref>\S+))?$"
)
# Snapshot commits carry fixed metadata, so the same files always give the same commit (and the same
# audit id, which is what lets a re-run of an audit of an unversioned folder resume).
_SNAPSHOT_ENV = {
    "GIT_AUTHOR_NAME": "repaudit",
    "GIT_AUTHOR_EMAIL": "repaudit@localhost",
    "GIT_AUTHOR_DATE": "1970-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "repaudit",
    "GIT_COMMITTER_EMAIL": "repaudit@localhost",
    "GIT_COMMITTER_DATE": "1970-01-01T00:00:00+0000",
}
# The local repository's HEAD, fetched into its mirror (the mirror's own HEAD points here).
_MIRRORED_HEAD = "refs/repaudit/head"
# Git LFS replaces large files by a small text pointer that starts with this line.
_LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"
_LFS_POINTER_MAX = 1024  # bytes


def resolve_source(
    target: str,
    *,
    ref: str | None = None,
    cache_dir: Path,
    allow_dirty: bool = False,
    ignore: Sequence[Path] = (),
) -> Source:
    """Pin ``target`` (URL, owner/name[@ref], git repository, folder) to one commit; record its full SHA.

    ``ignore``: folders that are never part of the audited code even when they lie inside it (the
    audit store itself, when `repaudit check .` runs in the paper's repository). Raises UsageError
    for a target or ref that cannot name code, SourceError when the code cannot be pinned.
    """
    if ref is not None and ref.startswith("-"):
        raise UsageError(f"--ref {ref} starts with '-': pass a branch, tag or commit")
    path = Path(target).expanduser()
    if not _URL.match(target) and path.exists():
        if not path.is_dir():
            raise UsageError(f"{target} is a file: pass the repository's folder or its URL")
        return _resolve_local(target, path.resolve(), ref, cache_dir, allow_dirty, ignore)
    shorthand = None if _URL.match(target) else _SHORTHAND.match(target)
    if shorthand:
        ref = _merge_refs(target, shorthand["ref"], ref)
        url = f"https://github.com/{shorthand['owner']}/{shorthand['name']}.git"
        return _resolve_remote(target, url, ref, cache_dir)
    if _URL.match(target):
        return _resolve_remote(public_url(target), target, ref, cache_dir)
    raise UsageError(
        f"{target} does not exist: pass an existing folder, a git URL or owner/name for GitHub"
    )


def checkout(source: Source, dest: Path) -> Path:
    """Write a clean tree of ``source.commit`` at ``dest`` (no .git); return ``dest / source.subdirectory``.

    A private index file per call keeps concurrent checkouts (threads or processes, each with its own
    ``dest``) from touching each other. ``checkout-index`` rather than ``git archive``: archive would
    drop files marked ``export-ignore`` in .gitattributes. No filter runs (none is configured).
    """
    dest.mkdir(parents=True, exist_ok=True)
    with gitrun.private_index() as env:
        try:
            gitrun.git(
                "read-tree", source.commit, git_dir=source.repo_path, work_tree=dest, env=env
            )
            gitrun.git(
                "checkout-index",
                "--all",
                "--force",
                git_dir=source.repo_path,
                work_tree=dest,
                env=env,
            )
        except gitrun.GitFailed as error:
            raise SourceError(
                f"cannot check out {source.commit[:12]} of {source.display_name} into {dest}: "
                f"{error}; clear the cache folder {source.repo_path} and re-run"
            ) from None
    return dest / source.subdirectory


# ---------------------------------------------------------------- local targets


def _resolve_local(
    target: str,
    path: Path,
    ref: str | None,
    cache_dir: Path,
    allow_dirty: bool,
    ignore: Sequence[Path],
) -> Source:
    try:
        # expand_vars=False: a "$" in a folder name is a character, not a variable.
        repo = git.Repo(path, search_parent_directories=True, expand_vars=False)
    except git.InvalidGitRepositoryError:
        repo = None
    if repo is None:
        if ref:
            raise UsageError(
                f"{target} is not a git repository, so --ref {ref} cannot apply: drop --ref"
            )
        commit, repo_path = _snapshot_folder(path, cache_dir, excludes=_excludes(path, ignore))
        warning = (
            f"{target} is not a git repository: audited a snapshot of its files, but no commit pins it; "
            "run `git init && git commit` there so the audit can be repeated exactly"
        )
        return Source(
            target,
            path.name,
            repo_path,
            commit,
            subdirectory="",
            snapshot=True,
            warnings=(warning, *_lfs_warning(repo_path, commit, "")),
        )
    if repo.bare:
        root, subdirectory = path, ""
    else:
        root = Path(repo.working_tree_dir or path).resolve()
        subdirectory = path.relative_to(root).as_posix() if path != root else ""
    display = root.name.removesuffix(".git") + (f"/{subdirectory}" if subdirectory else "")
    has_head = _has_head(repo)
    if ref is None and not has_head:
        raise SourceError(
            f"{target} is in a git repository with no commits yet: commit the code "
            "(`git add -A && git commit`) so the audit is pinned to it"
        )
    git_dir = Path(repo.git_dir).resolve()
    mirror = _mirror(git_dir, root.name, cache_dir, with_head=has_head)
    commit = _rev_parse(mirror, ref or "HEAD", target, where=root)
    warnings = _submodule_warning(mirror, commit)
    snapshot = False
    if ref is None and not repo.bare:
        excludes = _excludes(root, ignore)
        only = subdirectory or "."
        dirty = _uncommitted(mirror, root, commit, only, excludes)
        if dirty:
            where = f"{target}" if not subdirectory else f"{target} (in repository {root})"
            if not allow_dirty:
                raise SourceError(
                    f"{where} has uncommitted changes: commit them or pass --allow-dirty"
                )
            commit = _snapshot(mirror, root, base=commit, only=only, excludes=excludes)
            snapshot = True
            warnings += (
                f"{where} has uncommitted changes: audited a snapshot ({commit[:12]}) that includes "
                "them; commit them so the audit can be repeated exactly",
            )
    return Source(
        target,
        display,
        mirror,
        commit,
        ref=ref,
        subdirectory=subdirectory,
        snapshot=snapshot,
        warnings=(*warnings, *_lfs_warning(mirror, commit, subdirectory)),
        remote=None if snapshot else _remote_holding(repo, mirror, commit),
        committed_at=None if snapshot else _committed_at(mirror, commit),
    )


def _has_head(repo: git.Repo) -> bool:
    """Whether the repository's HEAD names a commit (read from its files; no git command runs)."""
    try:
        git.SymbolicReference.dereference_recursive(repo, "HEAD")
    except ValueError:  # an unborn branch: no commits yet
        return False
    return True


def _mirror(git_dir: Path, name: str, cache_dir: Path, *, with_head: bool) -> Path:
    """A private bare copy of the local repository at ``git_dir``: its branches, tags, remote
    branches and (``with_head``) HEAD, fetched again on every audit. Returns the copy's folder."""
    key = hashlib.sha256(str(git_dir).encode()).hexdigest()[:12]
    mirror = gitrun.private_repository(
        cache_dir / "mirrors" / f"{_sanitize(name)}-{key}.git", head=_MIRRORED_HEAD
    )
    head = [f"+HEAD:{_MIRRORED_HEAD}"] if with_head else []
    with gitrun.exclusive(mirror):
        # The repository's own ignore list, as data: `git status` in the mirror honours it.
        exclude = git_dir / "info" / "exclude"
        (mirror / "info").mkdir(exist_ok=True)
        (mirror / "info" / "exclude").write_bytes(
            exclude.read_bytes() if exclude.is_file() else b""
        )
        try:
            gitrun.git(
                "fetch",
                "--quiet",
                "--force",
                "--prune",
                "--no-tags",
                "--no-write-fetch-head",
                "--no-recurse-submodules",
                "--",
                str(git_dir),
                *head,
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
                "+refs/remotes/*:refs/remotes/*",
                git_dir=mirror,
            )
        except gitrun.GitFailed as error:
            raise SourceError(
                f"cannot read the git repository {git_dir}: {error}; check that `git log` works there"
            ) from None
    return mirror


def _uncommitted(
    mirror: Path, root: Path, commit: str, only: str, excludes: tuple[str, ...]
) -> bool:
    """Whether ``root``'s files under ``only`` differ from ``commit`` (untracked files included,
    ignored ones not), compared in the mirror so that nothing of the repository's config runs."""
    with gitrun.private_index() as env:
        gitrun.git("read-tree", commit, git_dir=mirror, work_tree=root, env=env)
        changes = gitrun.git(
            "status",
            "--porcelain",
            "--untracked-files=all",
            "--ignore-submodules=all",
            *gitrun.auditor_excludes(),
            "--",
            only,
            *excludes,
            git_dir=mirror,
            work_tree=root,
            env=env,
        )
    return bool(changes)


def _remote_holding(repo: git.Repo, mirror: Path, commit: str) -> str | None:
    """The URL of a remote (origin first) one of whose branches, as this clone last fetched them,
    contains ``commit``: where a reviewer on another machine gets the same code. Nothing is
    fetched: the remote branches are read in the mirror (which copied them), the URLs from the
    repository's config as data; a remote that is a local path is no help elsewhere and is skipped."""
    try:
        refs = gitrun.git(
            "for-each-ref",
            "--contains",
            commit,
            "--format=%(refname)",
            "refs/remotes/",
            git_dir=mirror,
        )
    except gitrun.GitFailed:
        return None
    names = {r.removeprefix("refs/remotes/").split("/", 1)[0] for r in refs.split()}
    for name in sorted(names, key=lambda n: (n != "origin", n)):
        with contextlib.suppress(ValueError, AttributeError):  # no such remote, or no url
            url = repo.remote(name).url
            if _URL.match(url) and not url.startswith("file://"):
                return public_url(url)
    return None


def _excludes(root: Path, ignore: Sequence[Path]) -> tuple[str, ...]:
    """git pathspecs leaving out the ignored folders that lie inside ``root``."""
    inside = (
        p.resolve() for p in ignore if p.resolve().is_relative_to(root) and p.resolve() != root
    )
    return tuple(f":(exclude){p.relative_to(root).as_posix()}" for p in inside)


def _snapshot_folder(
    folder: Path, cache_dir: Path, *, excludes: tuple[str, ...]
) -> tuple[str, Path]:
    """Commit a plain folder's files into a private bare repository; return (commit SHA, repository)."""
    key = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    store = gitrun.private_repository(
        cache_dir / "snapshots" / f"{_sanitize(folder.name)}-{key}.git", head=_MIRRORED_HEAD
    )
    with gitrun.exclusive(store):
        return _snapshot(store, folder, base=None, only=".", excludes=excludes), store


def _snapshot(
    repository: Path, folder: Path, *, base: str | None, only: str, excludes: tuple[str, ...]
) -> str:
    """Commit ``folder``'s files into ``repository`` (one of repaudit's own); return the commit.

    With ``base`` (a commit of ``repository``), the snapshot is that commit plus the working-tree
    state under ``only``. .gitignore files in the folder are honoured.
    """
    with gitrun.private_index() as env:
        env = {**env, **_SNAPSHOT_ENV}
        parents: list[str] = []
        if base is not None:
            gitrun.git("read-tree", base, git_dir=repository, work_tree=folder, env=env)
            parents = ["-p", base]
        gitrun.git(
            "add",
            "--all",
            *gitrun.auditor_excludes(),
            "--",
            only,
            *excludes,
            git_dir=repository,
            work_tree=folder,
            env=env,
        )
        tree = gitrun.git("write-tree", git_dir=repository, work_tree=folder, env=env)
        message = f"repaudit snapshot of {folder}"
        commit = gitrun.git(
            "commit-tree", tree, *parents, "-m", message, git_dir=repository, env=env
        )
    # A ref per snapshot keeps it safe from `git gc` for as long as the cache lives.
    gitrun.git("update-ref", f"refs/snapshots/{commit}", commit, git_dir=repository)
    return commit


# ---------------------------------------------------------------- remote targets


def _resolve_remote(target: str, url: str, ref: str | None, cache_dir: Path) -> Source:
    """Clone ``url`` once into the cache (bare); later audits fetch into the same clone.

    Only the URL without credentials is recorded or used in folder names (``target`` is already
    stripped): audit records and reports are meant to be shared.
    """
    public = public_url(url)
    clone_dir = (
        cache_dir / "clones" / f"{_sanitize(re.sub(r'^[a-z]+://', '', public))}-"
        f"{hashlib.sha256(public.encode()).hexdigest()[:8]}.git"
    )
    warnings: tuple[str, ...] = ()
    if clone_dir.exists():
        if not (ref and _is_full_sha(ref) and _has_commit(clone_dir, ref)):
            try:
                with gitrun.exclusive(clone_dir):
                    gitrun.git(
                        "fetch",
                        "--quiet",
                        "origin",
                        "--tags",
                        "--prune",
                        "--force",
                        git_dir=clone_dir,
                        auditor_config=True,
                    )
            except gitrun.GitFailed as error:
                warnings = (
                    f"could not update the cached clone of {public} ({error}); audited the cached copy",
                )
    else:
        _clone(url, clone_dir)
    if ref and _is_full_sha(ref) and not _has_commit(clone_dir, ref):
        # A commit no branch or tag reaches (e.g. of a pull request): hosts serve it by SHA.
        # On failure _rev_parse below reports the unknown ref, with how to list the known ones.
        with contextlib.suppress(gitrun.GitFailed):
            gitrun.git("fetch", "--quiet", "origin", ref, git_dir=clone_dir, auditor_config=True)
    if ref is None and not gitrun.git("for-each-ref", "--count=1", git_dir=clone_dir):
        raise SourceError(
            f"{target} has no commits yet: push the code there, or audit a local clone of it"
        )
    commit = _rev_parse(clone_dir, ref or "HEAD", target, where=clone_dir)
    owner_repo = "/".join(public.rstrip("/").removesuffix(".git").replace(":", "/").split("/")[-2:])
    return Source(
        target,
        owner_repo,
        clone_dir.resolve(),
        commit,
        ref=ref,
        url=public,
        warnings=(
            *warnings,
            *_submodule_warning(clone_dir, commit),
            *_lfs_warning(clone_dir, commit, ""),
        ),
        committed_at=_committed_at(clone_dir, commit),
    )


def _clone(url: str, clone_dir: Path) -> None:
    """Clone into a private temporary folder, then rename: a crash, Ctrl-C or a concurrent clone of
    the same URL never leaves a half-written clone where the next audit would find it, and the
    partial clone of a killed audit is removed by the next one."""
    partial = gitrun.temporary_name(clone_dir)
    try:
        gitrun.git("clone", "--quiet", "--bare", "--", url, str(partial), auditor_config=True)
        # A bare clone has no fetch refspec; map branches one to one so later fetches update them.
        gitrun.git("config", "remote.origin.fetch", "+refs/heads/*:refs/heads/*", git_dir=partial)
        gitrun.place(partial, clone_dir)
    except gitrun.GitFailed as error:
        raise SourceError(
            f"cannot clone {public_url(url)}: {error}; check the URL and network access, "
            "or clone it yourself and pass the local folder"
        ) from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _rev_parse(repository: Path, ref: str, target: str, *, where: Path) -> str:
    try:
        return gitrun.git(
            "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", git_dir=repository
        )
    except gitrun.GitFailed:
        raise SourceError(
            f"unknown ref {ref!r} in {target}: list branches and tags with "
            f"`git -C {where} branch -a` and `git -C {where} tag`, then pass one with --ref"
        ) from None


def _merge_refs(target: str, in_target: str | None, flag: str | None) -> str | None:
    if in_target and flag and in_target != flag:
        raise UsageError(f"{target} names ref {in_target} but --ref says {flag}: give only one")
    return in_target or flag


def _submodule_warning(repository: Path, commit: str) -> tuple[str, ...]:
    if not gitrun.has_object(repository, f"{commit}:.gitmodules"):
        return ()
    return ("the repository has git submodules; they are not checked out in the seeds' trees",)


def _committed_at(repository: Path, commit: str) -> str:
    """The commit's committer date in UTC, ISO 8601: when it entered the history it is pinned in."""
    stamp = gitrun.git("show", "--no-patch", "--format=%ct", commit, git_dir=repository)
    when = datetime.datetime.fromtimestamp(int(stamp), datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _lfs_warning(repository: Path, commit: str, subdirectory: str) -> tuple[str, ...]:
    """A warning naming the Git LFS pointer files under ``subdirectory`` at ``commit``: the seeds
    would read a 130-byte pointer where the paper's code expects its data or weights."""
    listing = gitrun.git_bytes(
        "ls-tree", "-r", "-l", "-z", "--full-tree", commit, git_dir=repository
    )
    prefix = subdirectory.rstrip("/") + "/" if subdirectory else ""
    candidates: list[tuple[str, str]] = []  # (blob id, path)
    for entry in listing.decode("utf-8", "replace").split("\0"):
        meta, _, path = entry.partition("\t")
        fields = meta.split()
        small = len(fields) == 4 and fields[3].isdigit() and int(fields[3]) <= _LFS_POINTER_MAX
        if small and fields[1] == "blob" and path.startswith(prefix):
            candidates.append((fields[2], path))
    if not candidates:
        return ()
    batch = gitrun.git_bytes(
        "cat-file",
        "--batch",
        git_dir=repository,
        stdin="".join(f"{b}\n" for b, _ in candidates).encode(),
    )
    pointers, offset = [], 0
    for _, path in candidates:  # each answer: "<id> blob <size>\n<content>\n"
        header_end = batch.index(b"\n", offset)
        size = int(batch[offset:header_end].split()[2])
        if batch[header_end + 1 : header_end + 1 + size].startswith(_LFS_POINTER):
            pointers.append(path)
        offset = header_end + 1 + size + 1
    if not pointers:
        return ()
    named = ", ".join(pointers[:5]) + (
        f" and {len(pointers) - 5} more" if len(pointers) > 5 else ""
    )
    return (
        f"{len(pointers)} file(s) are Git LFS pointers, not their contents ({named}): the seeds read "
        "a short pointer text where the code expects the file; download the files in the spec's "
        "`prepare`, or commit them without LFS",
    )


def _is_full_sha(ref: str) -> bool:
    return re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", ref) is not None


def _has_commit(repository: Path, sha: str) -> bool:
    return gitrun.has_object(repository, f"{sha}^{{commit}}")


def public_url(url: str) -> str:
    """``url`` without an https token (https://user:token@host/... -> https://host/...); an ssh
    user name such as git@ is kept, since it is not a secret and the URL needs it."""
    return re.sub(r"^(https?://)[^/@]+@", r"\1", url)


def _sanitize(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "repo"
