package bashexec

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A command's own process group is not its whole tree: GNU timeout, docker
// and shells with job control move children into groups of their own, and
// once the command's process dies those children are re-parented to init and
// can no longer be found. So on stop the tree is walked through /proc while
// the command's process still lives, each member remembered by pid and start
// time (pids are reused), and every member is signalled before the command's
// own group.

// proc is one process seen in /proc.
type proc struct {
	pid, ppid, pgid int
	start           uint64 // clock ticks after boot; tells a reused pid apart
	dead            bool   // zombie or dead: exited, only not reaped yet
}

// procFS reads processes from a proc file system; tests point root at a fake tree.
type procFS struct{ root string }

var sysProc = procFS{root: "/proc"}

// stat reads /proc/<pid>/stat.
func (p procFS) stat(pid int) (proc, error) {
	b, err := os.ReadFile(filepath.Join(p.root, strconv.Itoa(pid), "stat"))
	if err != nil {
		return proc{}, err
	}
	// The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 20 { // f[0] is field 3 (state), f[19] is field 22 (starttime)
		return proc{}, errors.New("bashexec: malformed " + filepath.Join(p.root, strconv.Itoa(pid), "stat"))
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgid, err2 := strconv.Atoi(f[2])
	start, err3 := strconv.ParseUint(f[19], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return proc{}, err
	}
	return proc{pid: pid, ppid: ppid, pgid: pgid, start: start, dead: f[0] == "Z" || f[0] == "X"}, nil
}

// alive reports whether pr still runs as the same process.
func (p procFS) alive(pr proc) bool {
	now, err := p.stat(pr.pid)
	return err == nil && now.start == pr.start && !now.dead
}

// errNoChildrenFiles: the kernel was built without CONFIG_PROC_CHILDREN.
var errNoChildrenFiles = errors.New("no /proc/<pid>/task/<tid>/children")

// children lists pid's children from /proc/<pid>/task/*/children.
func (p procFS) children(pid int) ([]int, error) {
	dir := filepath.Join(p.root, strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "children"))
		if errors.Is(err, fs.ErrNotExist) {
			if _, terr := os.Stat(filepath.Join(dir, t.Name())); terr == nil {
				return nil, errNoChildrenFiles
			}
			continue // the thread ended meanwhile
		}
		if err != nil {
			return nil, err
		}
		for _, w := range strings.Fields(string(b)) {
			if k, err := strconv.Atoi(w); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids, nil
}

// all reads every process, for kernels without children files.
func (p procFS) all() map[int][]int {
	entries, _ := os.ReadDir(p.root)
	kids := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pr, err := p.stat(pid); err == nil {
			kids[pr.ppid] = append(kids[pr.ppid], pid)
		}
	}
	return kids
}

// descendants returns the live processes below pid (not pid itself).
func (p procFS) descendants(pid int) []proc {
	var scan map[int][]int // filled on the first need: without children files
	childrenOf := func(pid int) []int {
		if scan == nil {
			kids, err := p.children(pid)
			if !errors.Is(err, errNoChildrenFiles) {
				return kids
			}
			scan = p.all()
		}
		return scan[pid]
	}
	var out []proc
	seen := map[int]bool{pid: true}
	for queue := []int{pid}; len(queue) > 0; {
		parent := queue[0]
		queue = queue[1:]
		for _, k := range childrenOf(parent) {
			if seen[k] {
				continue
			}
			seen[k] = true
			pr, err := p.stat(k)
			if err != nil || pr.ppid != parent { // gone, or already re-parented
				continue
			}
			if !pr.dead {
				out = append(out, pr)
			}
			queue = append(queue, k) // a zombie's children are re-parented already; cheap to ask
		}
	}
	return out
}

// procTree is the remembered tree of one command being stopped.
type procTree struct {
	fs      procFS
	root    int
	members map[int]proc
}

func newProcTree(fs procFS) *procTree { return &procTree{fs: fs, members: map[int]proc{}} }

// refresh adds root's current descendants; root is the command's pid (0: not started yet).
func (t *procTree) refresh(root int) {
	if root <= 0 {
		return
	}
	t.root = root
	for _, pr := range t.fs.descendants(root) {
		t.members[pr.pid] = pr
	}
}

// signal sends sig to every remembered member that still runs, and to each
// process group led by a member outside the command's own group (which the
// caller signals itself), so that what a member forked since the walk gets it too.
func (t *procTree) signal(sig syscall.Signal) {
	own := syscall.Getpgrp()
	groups := map[int]bool{}
	for pid, pr := range t.members {
		if !t.fs.alive(pr) {
			delete(t.members, pid)
			continue
		}
		_ = syscall.Kill(pid, sig)
		if pr.pgid != t.root && pr.pgid != own {
			groups[pr.pgid] = true
		}
	}
	for g := range groups {
		if _, ok := t.members[g]; ok { // a group our tree made, not one it joined
			_ = syscall.Kill(-g, sig)
		}
	}
}

// gone reports whether every remembered member has ended.
func (t *procTree) gone() bool {
	for pid, pr := range t.members {
		if t.fs.alive(pr) {
			return false
		}
		delete(t.members, pid)
	}
	return true
}

// waitGone polls until every member ended or d passed; members are not our
// children, so there is nothing to wait on.
func (t *procTree) waitGone(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !t.gone() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// pids lists the remembered members still running.
func (t *procTree) pids() []int {
	var out []int
	for pid, pr := range t.members {
		if t.fs.alive(pr) {
			out = append(out, pid)
		}
	}
	return out
}
