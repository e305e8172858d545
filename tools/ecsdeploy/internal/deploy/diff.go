package deploy

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// view renders v as indented JSON without null, empty or zero members, so
// a diff shows what a task definition says rather than the SDK's shape.
func view(v any) []string {
	b, err := json.Marshal(v)
	if err != nil {
		return []string{fmt.Sprintf("(cannot render: %v)", err)}
	}
	var m any
	_ = json.Unmarshal(b, &m)
	b, _ = json.MarshalIndent(prune(m), "", "  ")
	return strings.Split(string(b), "\n")
}

func prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range t {
			if e = prune(e); e != nil {
				out[k] = e
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		var out []any
		for _, e := range t {
			if e = prune(e); e != nil {
				out = append(out, e)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case string:
		if t == "" {
			return nil
		}
	case float64:
		if t == 0 {
			return nil
		}
	}
	return v
}

// writeDiff prints a unified diff of two line lists with context lines of
// context around each change.
func writeDiff(w io.Writer, oldName, newName string, a, b []string, context int) {
	// Longest common subsequence; task definitions are a few hundred lines.
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var ops []line
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, line{' ', a[i]})
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, line{'-', a[i]})
			i++
		default:
			ops = append(ops, line{'+', b[j]})
			j++
		}
	}
	fmt.Fprintf(w, "--- %s\n+++ %s\n", oldName, newName)
	last := -1
	for k, op := range ops {
		if op.op == ' ' {
			near := false
			for d := max(0, k-context); d <= min(len(ops)-1, k+context); d++ {
				if ops[d].op != ' ' {
					near = true
					break
				}
			}
			if !near {
				continue
			}
		}
		if last >= 0 && k > last+1 {
			fmt.Fprintln(w, "  …")
		}
		fmt.Fprintf(w, "%c %s\n", op.op, op.text)
		last = k
	}
}
