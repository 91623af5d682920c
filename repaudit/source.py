"""Pin the audited code to one commit (clone, open or snapshot it) and make clean per-seed checkouts.

This is the only module that imports git (gitpython). Every kind of target ends as a commit in some
repository, so ``checkout`` is the same for all of them:

    URL / owner/name[@ref]     bare clone cached under <cache>/clones/, fetched again on reuse
    local git repository       opened in place, ``ref`` (default HEAD) resolved there
    folder inside a repository audited at that repository's commit, ``subdirectory`` set
    uncommitted changes        refused, or with allow_dirty snapshotted into <cache>/snapshots/
    plain folder               snapshotted into <cache>/snapshots/ (no commit pins it: a warning)
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

import git

from repaudit.errors import SourceError
from repaudit.model import Source

_URL = re.compile(r"^(?:https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:")
# GitHub shorthand: owner names are alphanumerics and hyphens, so "./x" or "../x" never matches.
_SHORTHAND = re.compile(
    r"^(?P<owner>[A-Za-z0-9][A-Za-z0-9-]*)/(?P<name>[A-Za-z0-9._-]+?)(?:@(?P<ref>\S+))?$"
)
# Never ask for a password or a host key: an unreachable repository fails fast with git's message.
_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh") + " -o BatchMode=yes",
}
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
    audit store itself, when `repaudit check .` runs in the paper's repository).
    """
    path = Path(target).expanduser()
    if not _URL.match(target) and path.exists():
        if not path.is_dir():
            raise SourceError(f"{target} is a file: pass the repository's folder or its URL")
        return _resolve_local(target, path.resolve(), ref, cache_dir, allow_dirty, ignore)
    shorthand = None if _URL.match(target) else _SHORTHAND.match(target)
    if shorthand:
        ref = _merge_refs(target, shorthand["ref"], ref)
        url = f"https://github.com/{shorthand['owner']}/{shorthand['name']}.git"
        return _resolve_remote(target, url, ref, cache_dir)
    if _URL.match(target):
        return _resolve_remote(public_url(target), target, ref, cache_dir)
    raise SourceError(
        f"{target} does not exist: pass an existing folder, a git URL or owner/name for GitHub"
    )


def checkout(source: Source, dest: Path) -> Path:
    """Write a clean tree of ``source.commit`` at ``dest`` (no .git); return ``dest / source.subdirectory``.

    A private index file per call keeps concurrent checkouts (threads or processes, each with its own
    ``dest``) from touching each other or the repository's own index. ``checkout-index`` rather than
    ``git archive``: archive would drop files marked ``export-ignore`` in .gitattributes.
    """
    dest.mkdir(parents=True, exist_ok=True)
    git_dir = git.Repo(source.repo_path).git_dir
    with tempfile.TemporaryDirectory(prefix="repaudit-index-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        try:
            _git(git_dir, dest, "read-tree", source.commit, env=env)
            _git(git_dir, dest, "checkout-index", "--all", "--force", env=env)
        except git.GitCommandError as error:
            raise SourceError(
                f"cannot check out {source.commit[:12]} of {source.display_name} into {dest}: "
                f"{_git_message(error)}; clear the cache folder {source.repo_path} and re-run"
            ) from error
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
        repo = git.Repo(path, search_parent_directories=True)
    except git.InvalidGitRepositoryError:
        repo = None
    if repo is None:
        if ref:
            raise SourceError(
                f"{target} is not a git repository, so --ref {ref} cannot apply: drop --ref"
            )
        commit, repo_path = _snapshot(path, cache_dir, base=None, excludes=_excludes(path, ignore))
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
            warnings=(warning,),
        )
    if repo.bare:
        root, subdirectory = path, ""
    else:
        root = Path(repo.working_tree_dir or path).resolve()
        subdirectory = path.relative_to(root).as_posix() if path != root else ""
    display = root.name.removesuffix(".git") + (f"/{subdirectory}" if subdirectory else "")
    if ref is None and not repo.head.is_valid():
        raise SourceError(
            f"{target} is in a git repository with no commits yet: commit the code "
            "(`git add -A && git commit`) so the audit is pinned to it"
        )
    commit = _rev_parse(repo, ref or "HEAD", target)
    warnings = _submodule_warning(repo, commit)
    if ref is None and not repo.bare:
        excludes = _excludes(root, ignore)
        changes = repo.git.status(
            "--porcelain", "--untracked-files=all", "--", subdirectory or ".", *excludes
        )
        if changes:
            where = f"{target}" if not subdirectory else f"{target} (in repository {root})"
            if not allow_dirty:
                raise SourceError(
                    f"{where} has uncommitted changes: commit them or pass --allow-dirty"
                )
            commit, snapshot_repo = _snapshot(
                root, cache_dir, base=(repo, commit), only=subdirectory or ".", excludes=excludes
            )
            warning = (
                f"{where} has uncommitted changes: audited a snapshot ({commit[:12]}) that includes "
                "them; commit them so the audit can be repeated exactly"
            )
            return Source(
                target,
                display,
                snapshot_repo,
                commit,
                subdirectory=subdirectory,
                snapshot=True,
                warnings=(*warnings, warning),
            )
    return Source(
        target,
        display,
        Path(repo.git_dir).resolve() if repo.bare else root,
        commit,
        ref=ref,
        subdirectory=subdirectory,
        warnings=warnings,
        remote=_remote_holding(repo, commit),
        committed_at=_committed_at(repo, commit),
    )


def _remote_holding(repo: git.Repo, commit: str) -> str | None:
    """The URL of a remote (origin first) one of whose branches, as this clone last fetched them,
    contains ``commit``: where a reviewer on another machine gets the same code. Nothing is
    fetched; a remote that is a local path is no help elsewhere and is skipped."""
    try:
        branches = repo.git.branch("-r", "--contains", commit, "--format=%(refname:short)")
    except git.GitCommandError:
        return None
    names = sorted({b.split("/", 1)[0] for b in branches.split()}, key=lambda n: (n != "origin", n))
    for name in names:
        with contextlib.suppress(ValueError, git.GitCommandError):
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


def _snapshot(
    folder: Path,
    cache_dir: Path,
    *,
    base: tuple[git.Repo, str] | None,
    only: str = ".",
    excludes: tuple[str, ...] = (),
) -> tuple[str, Path]:
    """Commit ``folder``'s files into a private bare repository; return (commit SHA, repository).

    With ``base`` (a repository and its commit), the snapshot is that commit plus the working-tree state
    under ``only``; the base repository's objects are borrowed through git's alternates, so nothing is
    written into the user's repository. .gitignore files in the folder are honoured.
    """
    key = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    snapshot_dir = (cache_dir / "snapshots" / f"{_sanitize(folder.name)}-{key}.git").resolve()
    store = git.Repo.init(snapshot_dir, bare=True, mkdir=True)
    if base is not None:
        base_repo, _ = base
        alternates = snapshot_dir / "objects" / "info" / "alternates"
        alternates.write_text(str(Path(base_repo.git_dir, "objects").resolve()) + "\n")
        exclude = Path(base_repo.git_dir, "info", "exclude")
        if exclude.exists():
            store.git.config("core.excludesFile", str(exclude.resolve()))
    with tempfile.TemporaryDirectory(prefix="repaudit-index-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index"), **_SNAPSHOT_ENV}
        parents: list[str] = []
        if base is not None:
            _git(snapshot_dir, folder, "read-tree", base[1], env=env)
            parents = ["-p", base[1]]
        _git(snapshot_dir, folder, "add", "--all", "--", only, *excludes, env=env)
        tree = _git(snapshot_dir, folder, "write-tree", env=env)
        message = f"repaudit snapshot of {folder}"
        commit = _git(snapshot_dir, folder, "commit-tree", tree, *parents, "-m", message, env=env)
    # A ref per snapshot keeps it safe from `git gc` for as long as the cache lives. Two audits of
    # the same files race for the same ref; the loser's update failing is harmless.
    try:
        store.git.update_ref(f"refs/snapshots/{commit}", commit)
    except git.GitCommandError:
        if not _has_commit(store, f"refs/snapshots/{commit}"):
            raise
    return commit, snapshot_dir


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
        repo = git.Repo(clone_dir)
        if not (ref and _is_full_sha(ref) and _has_commit(repo, ref)):
            try:
                repo.git.fetch("origin", "--tags", "--prune", "--force", env=_GIT_ENV)
            except git.GitCommandError as error:
                warnings = (
                    f"could not update the cached clone of {url} ({_git_message(error)}); "
                    "audited the cached copy",
                )
    else:
        repo = _clone(url, clone_dir)
    if ref and _is_full_sha(ref) and not _has_commit(repo, ref):
        # A commit no branch or tag reaches (e.g. of a pull request): hosts serve it by SHA.
        # On failure _rev_parse below reports the unknown ref, with how to list the known ones.
        with contextlib.suppress(git.GitCommandError):
            repo.git.fetch("origin", ref, env=_GIT_ENV)
    commit = _rev_parse(repo, ref or "HEAD", target)
    owner_repo = "/".join(public.rstrip("/").removesuffix(".git").replace(":", "/").split("/")[-2:])
    return Source(
        target,
        owner_repo,
        clone_dir.resolve(),
        commit,
        ref=ref,
        url=public,
        warnings=(*warnings, *_submodule_warning(repo, commit)),
        committed_at=_committed_at(repo, commit),
    )


def _clone(url: str, clone_dir: Path) -> git.Repo:
    """Clone into a private temporary folder, then rename: a crash or a concurrent clone of the same
    URL never leaves a half-written clone where the next audit would find it."""
    clone_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = clone_dir.with_name(f".{clone_dir.name}.{uuid.uuid4().hex}")
    try:
        repo = git.Repo.clone_from(url, partial, bare=True, env=_GIT_ENV)
    except git.GitCommandError as error:
        shutil.rmtree(partial, ignore_errors=True)
        raise SourceError(
            f"cannot clone {public_url(url)}: {_git_message(error)}; check the URL and network access, "
            "or clone it yourself and pass the local folder"
        ) from error
    # A bare clone has no fetch refspec; map branches one to one so later fetches update them.
    repo.git.config("remote.origin.fetch", "+refs/heads/*:refs/heads/*")
    try:
        partial.rename(clone_dir)
    except OSError:  # another audit finished the same clone first: use that one
        shutil.rmtree(partial, ignore_errors=True)
    return git.Repo(clone_dir)


# ---------------------------------------------------------------- helpers


def _git(git_dir: str | os.PathLike[str], work_tree: Path, *args: str, env: dict[str, str]) -> str:
    """Run git on repository ``git_dir`` with ``work_tree`` as its work tree (also the working
    directory, so pathspecs are relative to it); ``env`` adds to the process environment."""
    command = ["git", f"--git-dir={git_dir}", f"--work-tree={work_tree}", *args]
    return git.Git(work_tree).execute(command, env=env)


def _rev_parse(repo: git.Repo, ref: str, target: str) -> str:
    try:
        return repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")
    except git.GitCommandError:
        where = repo.working_tree_dir or repo.git_dir
        raise SourceError(
            f"unknown ref {ref!r} in {target}: list branches and tags with "
            f"`git -C {where} branch -a` and `git -C {where} tag`, then pass one with --ref"
        ) from None


def _merge_refs(target: str, in_target: str | None, flag: str | None) -> str | None:
    if in_target and flag and in_target != flag:
        raise SourceError(f"{target} names ref {in_target} but --ref says {flag}: give only one")
    return in_target or flag


def _submodule_warning(repo: git.Repo, commit: str) -> tuple[str, ...]:
    try:
        repo.git.cat_file("-e", f"{commit}:.gitmodules")
    except git.GitCommandError:
        return ()
    return ("the repository has git submodules; they are not checked out in the seeds' trees",)


def _committed_at(repo: git.Repo, commit: str) -> str:
    """The commit's committer date in UTC, ISO 8601: when it entered the history it is pinned in."""
    when = repo.commit(commit).committed_datetime.astimezone(datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_full_sha(ref: str) -> bool:
    return re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", ref) is not None


def _has_commit(repo: git.Repo, sha: str) -> bool:
    try:
        repo.git.cat_file("-e", f"{sha}^{{commit}}")
    except git.GitCommandError:
        return False
    return True


def public_url(url: str) -> str:
    """``url`` without an https token (https://user:token@host/... -> https://host/...); an ssh
    user name such as git@ is kept, since it is not a secret and the URL needs it."""
    return re.sub(r"^(https?://)[^/@]+@", r"\1", url)


def _sanitize(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "repo"


def _git_message(error: git.GitCommandError) -> str:
    """The last meaningful line git printed, without gitpython's framing."""
    # gitpython frames stderr as "\n  stderr: '...\n'": the closing quote stands on a line alone.
    lines = [
        line.strip().removeprefix("stderr: ").strip("'").strip()
        for line in str(error.stderr or error).splitlines()
    ]
    meaningful = [line for line in lines if line]
    return meaningful[-1] if meaningful else str(error)
