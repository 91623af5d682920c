"""source.py against real git repositories made in tmp_path: clone cache, refs, folders, snapshots."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import git
import pytest
from conftest import TRAP, TRAP_ATTRIBUTES, arm_with_traps

from repaudit.errors import SourceError, UsageError
from repaudit.source import checkout, resolve_source


def _commit_all(repo: git.Repo, message: str) -> str:
    repo.git.add("--all")
    repo.git.commit(
        "-m",
        message,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        },
    )
    return repo.head.commit.hexsha


@pytest.fixture
def paper(tmp_path: Path) -> git.Repo:
    """A toy paper repository: a training script in a sub-folder, two commits, a tag."""
    root = tmp_path / "paper"
    (root / "exp").mkdir(parents=True)
    repo = git.Repo.init(root, initial_branch="main")
    (root / "train.py").write_text("print('v1')\n")
    (root / "exp" / "run.py").write_text("print('exp')\n")
    (root / ".gitignore").write_text("outputs/\n")
    _commit_all(repo, "v1")
    repo.create_tag("v1")
    (root / "train.py").write_text("print('v2')\n")
    _commit_all(repo, "v2")
    return repo


def test_local_repository_is_mirrored_at_head(paper: git.Repo, tmp_path: Path) -> None:
    source = resolve_source(str(paper.working_tree_dir), cache_dir=tmp_path / "cache")
    assert source.commit == paper.head.commit.hexsha and len(source.commit) == 40
    assert source.repo_path.parent == (tmp_path / "cache" / "mirrors").resolve()
    assert (source.subdirectory, source.snapshot, source.warnings) == ("", False, ())
    assert source.display_name == "paper"
    tree = checkout(source, tmp_path / "seed-1")
    assert (tree / "train.py").read_text() == "print('v2')\n"
    assert not (tree / ".git").exists()


def test_ref_is_resolved_to_a_full_sha(paper: git.Repo, tmp_path: Path) -> None:
    source = resolve_source(str(paper.working_tree_dir), ref="v1", cache_dir=tmp_path / "cache")
    assert source.commit == paper.commit("v1").hexsha and source.ref == "v1"
    assert (checkout(source, tmp_path / "co") / "train.py").read_text() == "print('v1')\n"


def test_unknown_ref_says_how_to_list_refs(paper: git.Repo, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"unknown ref 'nope'.*git -C .* tag.*--ref"):
        resolve_source(str(paper.working_tree_dir), ref="nope", cache_dir=tmp_path / "cache")


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        resolve_source(str(tmp_path / "absent"), cache_dir=tmp_path / "cache")


def test_subfolder_is_audited_at_the_repository_commit(paper: git.Repo, tmp_path: Path) -> None:
    source = resolve_source(str(Path(paper.working_tree_dir) / "exp"), cache_dir=tmp_path / "c")
    assert source.subdirectory == "exp" and source.commit == paper.head.commit.hexsha
    assert source.display_name == "paper/exp"
    tree = checkout(source, tmp_path / "co")
    assert tree == tmp_path / "co" / "exp"
    assert (tree / "run.py").exists() and (tmp_path / "co" / "train.py").exists()


def test_uncommitted_changes_are_refused_then_snapshotted(paper: git.Repo, tmp_path: Path) -> None:
    exp = Path(paper.working_tree_dir) / "exp"
    (exp / "run.py").write_text("print('edited')\n")
    (exp / "new.py").write_text("x = 1\n")
    with pytest.raises(
        SourceError, match="has uncommitted changes: commit them or pass --allow-dirty"
    ):
        resolve_source(str(exp), cache_dir=tmp_path / "cache")

    source = resolve_source(str(exp), cache_dir=tmp_path / "cache", allow_dirty=True)
    assert source.snapshot and source.subdirectory == "exp"
    assert source.commit != paper.head.commit.hexsha
    assert any("uncommitted changes" in w for w in source.warnings)
    tree = checkout(source, tmp_path / "co")
    assert (tree / "run.py").read_text() == "print('edited')\n" and (tree / "new.py").exists()
    assert (tmp_path / "co" / "train.py").read_text() == "print('v2')\n"  # rest of the commit
    # The user's repository is untouched: same HEAD, no new refs, the edits still uncommitted.
    assert paper.head.commit.hexsha == _head(paper) and paper.is_dirty(untracked_files=True)
    # Same files, same snapshot commit: a re-run of the audit resumes in the same folder.
    again = resolve_source(str(exp), cache_dir=tmp_path / "cache", allow_dirty=True)
    assert again.commit == source.commit


def _head(repo: git.Repo) -> str:
    return git.Repo(repo.working_tree_dir).head.commit.hexsha


def test_changes_outside_the_audited_folder_do_not_count(paper: git.Repo, tmp_path: Path) -> None:
    (Path(paper.working_tree_dir) / "train.py").write_text("print('edited')\n")
    source = resolve_source(str(Path(paper.working_tree_dir) / "exp"), cache_dir=tmp_path / "c")
    assert not source.snapshot and source.commit == paper.head.commit.hexsha


def test_ignored_files_are_not_changes(paper: git.Repo, tmp_path: Path) -> None:
    (Path(paper.working_tree_dir) / "outputs").mkdir()
    (Path(paper.working_tree_dir) / "outputs" / "ckpt.pt").write_text("weights")
    source = resolve_source(str(paper.working_tree_dir), cache_dir=tmp_path / "c")
    assert not source.snapshot


def test_plain_folder_is_snapshotted_with_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    (folder / "pkg").mkdir(parents=True)
    (folder / "train.py").write_text("print(1)\n")
    (folder / "pkg" / "m.py").write_text("y = 2\n")
    source = resolve_source(str(folder), cache_dir=tmp_path / "cache")
    assert source.snapshot and len(source.commit) == 40 and source.display_name == "plain"
    assert "no commit pins it" in source.warnings[0]
    tree = checkout(source, tmp_path / "co")
    assert (tree / "pkg" / "m.py").read_text() == "y = 2\n"
    assert resolve_source(str(folder), cache_dir=tmp_path / "cache").commit == source.commit
    (folder / "train.py").write_text("print(2)\n")
    assert resolve_source(str(folder), cache_dir=tmp_path / "cache").commit != source.commit


def test_file_url_is_cloned_once_then_fetched(paper: git.Repo, tmp_path: Path) -> None:
    url = Path(paper.working_tree_dir).as_uri()
    cache = tmp_path / "cache"
    first = resolve_source(url, cache_dir=cache)
    assert first.commit == paper.head.commit.hexsha and first.url == url
    assert first.repo_path.parent == (cache / "clones").resolve()
    marker = first.repo_path / "repaudit-test-marker"
    marker.write_text("same clone")
    # A new commit upstream: the second audit fetches it into the same clone, no fresh clone.
    (Path(paper.working_tree_dir) / "train.py").write_text("print('v3')\n")
    v3 = _commit_all(paper, "v3")
    second = resolve_source(url, cache_dir=cache)
    assert second.repo_path == first.repo_path and marker.exists()
    assert second.commit == v3
    assert resolve_source(url, ref="v1", cache_dir=cache).commit == paper.commit("v1").hexsha
    assert (checkout(second, tmp_path / "co") / "train.py").read_text() == "print('v3')\n"
    assert len(list((cache / "clones").iterdir())) == 1


def test_unreachable_url_is_a_source_error(tmp_path: Path) -> None:
    url = (tmp_path / "no-such-repo").as_uri()
    with pytest.raises(SourceError, match=r"cannot clone .*check the URL"):
        resolve_source(url, cache_dir=tmp_path / "cache")
    assert not any((tmp_path / "cache" / "clones").iterdir())  # no half-written clone left


def test_shorthand_ref_conflicting_with_flag(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="give only one"):
        resolve_source("owner/paper@v1", ref="v2", cache_dir=tmp_path / "cache")


def test_checkout_from_many_threads_at_once(paper: git.Repo, tmp_path: Path) -> None:
    source = resolve_source(str(paper.working_tree_dir), cache_dir=tmp_path / "cache")
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            tree = checkout(source, tmp_path / f"seed-{k}")
            assert (tree / "train.py").read_text() == "print('v2')\n"
            assert (tree / "exp" / "run.py").exists()
        except BaseException as error:  # collected: a thread's failure must fail the test
            errors.append(error)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_an_existing_relative_path_wins_over_github_shorthand(
    paper: git.Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(paper.working_tree_dir).parent)
    source = resolve_source("paper/exp", cache_dir=tmp_path / "cache")
    assert source.url is None and source.subdirectory == "exp"


def test_uncommitted_changes_at_the_repository_root_are_refused(
    paper: git.Repo, tmp_path: Path
) -> None:
    (Path(paper.working_tree_dir) / "train.py").write_text("print('edited')\n")
    with pytest.raises(
        SourceError, match="has uncommitted changes: commit them or pass --allow-dirty"
    ):
        resolve_source(str(paper.working_tree_dir), cache_dir=tmp_path / "cache")
    # With --ref the user names a commit, so the working tree does not matter.
    pinned = resolve_source(str(paper.working_tree_dir), ref="v1", cache_dir=tmp_path / "cache")
    assert pinned.commit == paper.commit("v1").hexsha and not pinned.snapshot


def test_ref_on_a_plain_folder_and_a_file_target_are_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "train.py").write_text("")
    with pytest.raises(UsageError, match="not a git repository, so --ref v1 cannot apply"):
        resolve_source(str(tmp_path / "plain"), ref="v1", cache_dir=tmp_path / "cache")
    with pytest.raises(UsageError, match="is a file"):
        resolve_source(str(tmp_path / "plain" / "train.py"), cache_dir=tmp_path / "cache")


def test_a_repository_without_commits_is_refused(tmp_path: Path) -> None:
    git.Repo.init(tmp_path / "fresh")
    (tmp_path / "fresh" / "train.py").write_text("")
    with pytest.raises(SourceError, match="no commits yet: commit the code"):
        resolve_source(str(tmp_path / "fresh"), cache_dir=tmp_path / "cache")


def test_credentials_in_a_url_are_not_recorded(paper: git.Repo, tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        resolve_source("https://user:s3cret@127.0.0.1:9/x/y.git", cache_dir=tmp_path / "cache")
    assert "s3cret" not in str(caught.value) and "https://127.0.0.1:9/x/y.git" in str(caught.value)


def test_a_commit_can_be_pinned_by_full_sha_from_the_clone(paper: git.Repo, tmp_path: Path) -> None:
    url = Path(paper.working_tree_dir).as_uri()
    sha = paper.commit("v1").hexsha
    source = resolve_source(url, ref=sha, cache_dir=tmp_path / "cache")
    assert source.commit == sha and source.ref == sha
    with pytest.raises(SourceError, match="unknown ref '0{40}'"):
        resolve_source(url, ref="0" * 40, cache_dir=tmp_path / "cache")


def test_the_audit_store_inside_the_repository_is_not_an_uncommitted_change(tmp_path):
    repo_dir = tmp_path / "paper"
    repo_dir.mkdir()
    repo = git.Repo.init(repo_dir)
    (repo_dir / "train.py").write_text("print(1)\n")
    repo.index.add(["train.py"])
    repo.index.commit("code")
    (repo_dir / "audits" / "some-audit").mkdir(parents=True)
    (repo_dir / "audits" / "some-audit" / "audit.json").write_text("{}")
    with pytest.raises(SourceError, match="uncommitted changes"):
        resolve_source(str(repo_dir), cache_dir=tmp_path / "cache")
    pinned = resolve_source(
        str(repo_dir), cache_dir=tmp_path / "cache", ignore=[repo_dir / "audits"]
    )
    assert pinned.commit == repo.head.commit.hexsha and not pinned.snapshot


def test_a_plain_folder_snapshot_leaves_out_the_store(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "train.py").write_text("print(1)\n")
    first = resolve_source(str(folder), cache_dir=tmp_path / "cache", ignore=[folder / "audits"])
    (folder / "audits").mkdir()
    (folder / "audits" / "audit.json").write_text("{}")
    again = resolve_source(str(folder), cache_dir=tmp_path / "cache", ignore=[folder / "audits"])
    assert again.commit == first.commit


def test_an_unreachable_url_names_git_s_reason(tmp_path):
    with pytest.raises(SourceError) as caught:
        resolve_source(f"file://{tmp_path}/no-such-repo.git", cache_dir=tmp_path / "cache")
    message = str(caught.value)
    assert "cannot clone" in message and "no-such-repo" in message
    reason = message.split(": ", 1)[1].split("; check")[0]
    assert reason.strip(), message  # git's own words, not an empty quote


def test_the_commit_date_is_recorded_in_utc_and_a_snapshot_has_none(tmp_path: Path) -> None:
    """Environments of the paper's era resolve packages as of it (env/build.py)."""
    root = tmp_path / "paper"
    root.mkdir()
    repo = git.Repo.init(root)
    (root / "train.py").write_text("print(1)\n")
    repo.git.add("--all")
    dates = {
        "GIT_COMMITTER_DATE": "2019-06-01T23:30:00-02:00",
        "GIT_AUTHOR_DATE": "2018-01-01T00:00:00+00:00",
    }
    repo.git.commit("-m", "v1", env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                                     "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", **dates})  # fmt: skip
    source = resolve_source(str(root), cache_dir=tmp_path / "cache")
    assert source.committed_at == "2019-06-02T01:30:00Z"  # the committer's date, not the author's
    cloned = resolve_source(f"file://{root}", cache_dir=tmp_path / "cache")
    assert cloned.committed_at == source.committed_at
    (root / "train.py").write_text("print(2)\n")
    dirty = resolve_source(str(root), cache_dir=tmp_path / "cache", allow_dirty=True)
    assert dirty.snapshot and dirty.committed_at is None


def test_git_never_runs_what_the_audited_repository_configures(
    paper: git.Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(paper.working_tree_dir)
    (root / "data.bin").write_text("payload\n")
    _commit_all(paper, "data")
    log = tmp_path / "executed.log"
    arm_with_traps(root, log)
    (root / ".gitattributes").write_text(TRAP_ATTRIBUTES)
    # The trap is real: git itself, run in the repository, starts the scripts.
    subprocess.run(["git", "status"], cwd=root, capture_output=True, check=False, timeout=60)
    assert log.exists()
    log.unlink()
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token")
    cache = tmp_path / "cache"
    (root / "train.py").write_text("print('edited')\n")
    with pytest.raises(SourceError, match="uncommitted changes"):
        resolve_source(str(root), cache_dir=cache)
    dirty = resolve_source(str(root), cache_dir=cache, allow_dirty=True)
    pinned = resolve_source(str(root), ref="v1", cache_dir=cache)
    cloned = resolve_source(root.as_uri(), cache_dir=cache)
    for source in (dirty, pinned, cloned):
        checkout(source, tmp_path / f"co-{source.commit[:8]}")
    assert (tmp_path / f"co-{dirty.commit[:8]}" / "train.py").read_text() == "print('edited')\n"
    assert (tmp_path / f"co-{dirty.commit[:8]}" / "data.bin").read_text() == "payload\n"
    assert not log.exists(), log.read_text()


def test_a_checkout_runs_no_filter_the_tree_names(tmp_path: Path) -> None:
    """A committed .gitattributes names a filter driver; the auditor's own global config defines
    one of that name (as git-lfs does): the per-seed checkout still writes the blob as committed."""
    root = tmp_path / "paper"
    root.mkdir()
    repo = git.Repo.init(root, initial_branch="main")
    (root / ".gitattributes").write_text("*.bin filter=lfs\n")
    (root / "weights.bin").write_text("as committed\n")
    _commit_all(repo, "weights")
    log = tmp_path / "executed.log"
    script = tmp_path / "trap.sh"
    script.write_text(TRAP.format(log=log))
    script.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        f'[filter "lfs"]\n\tsmudge = {script} smudge\n\tclean = {script} clean\n'
    )
    os.environ["HOME"], old = str(home), os.environ["HOME"]
    try:
        source = resolve_source(str(root), cache_dir=tmp_path / "cache")
        tree = checkout(source, tmp_path / "co")
    finally:
        os.environ["HOME"] = old
    assert (tree / "weights.bin").read_text() == "as committed\n"
    assert not log.exists(), log.read_text()


def test_a_dollar_in_a_folder_name_is_taken_literally(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))
    root = tmp_path / "pa$HOME-per"
    root.mkdir()
    (root / "train.py").write_text("print(1)\n")
    for command in (["init", "-q"], ["add", "train.py"], ["commit", "-qm", "code"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *command], cwd=root, check=True
        )
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True
    ).stdout.strip()
    source = resolve_source(str(root), cache_dir=tmp_path / "cache")
    assert source.commit == sha and source.display_name == "pa$HOME-per"
    assert (checkout(source, tmp_path / "co") / "train.py").read_text() == "print(1)\n"


def test_git_s_whole_reason_is_kept(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        resolve_source(f"file://{tmp_path}/no-such-repo.git", cache_dir=tmp_path / "cache")
    message = str(caught.value)
    assert "does not appear to be a git repository" in message
    assert "Could not read from remote repository" in message
    assert "make sure you have the correct access rights and the repository exists" in message


def test_an_empty_remote_has_no_commits_yet(tmp_path: Path) -> None:
    git.Repo.init(tmp_path / "empty.git", bare=True)
    with pytest.raises(SourceError, match=r"empty.git has no commits yet"):
        resolve_source((tmp_path / "empty.git").as_uri(), cache_dir=tmp_path / "cache")


def test_git_lfs_pointer_files_are_named(tmp_path: Path) -> None:
    root = tmp_path / "paper"
    (root / "ckpt").mkdir(parents=True)
    repo = git.Repo.init(root, initial_branch="main")
    pointer = (
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        "size 12345\n"
    )
    (root / "ckpt" / "model.pt").write_text(pointer)
    (root / "train.py").write_text("print(1)\n")
    _commit_all(repo, "weights by LFS")
    source = resolve_source(str(root), cache_dir=tmp_path / "cache")
    (warning,) = source.warnings
    assert "1 file(s) are Git LFS pointers" in warning and "ckpt/model.pt" in warning


def test_a_killed_audit_s_partial_clone_is_removed_by_the_next(
    paper: git.Repo, tmp_path: Path
) -> None:
    import socket

    cache = tmp_path / "cache"
    (cache / "clones").mkdir(parents=True)
    dead = cache / "clones" / f".x.git.partial-{socket.gethostname()}-999999999"
    (dead / "objects").mkdir(parents=True)
    alive = cache / "clones" / f".y.git.partial-{socket.gethostname()}-{os.getpid()}"
    alive.mkdir()
    resolve_source(Path(paper.working_tree_dir).as_uri(), cache_dir=cache)
    assert not dead.exists() and alive.exists()  # a live audit's clone in progress is left alone
