package imagecheck

import (
	"fmt"
	"strings"

	"github.com/devops-exam/msgpipe/internal/runfiles"
)

// CheckLayouts checks the image indexes that spec names, in the format of
// //images/imagetest's IMAGE_INDEXES: space-separated "name=RLOCATIONPATH"
// pairs, each path an OCI layout in the runfiles. Every image is expected to
// expose port and to carry its name as its title. It returns one line per
// broken promise or unreadable layout, prefixed by the image's name; an
// empty spec is itself a failure, so a misconfigured target cannot pass by
// checking nothing.
func CheckLayouts(spec, port string) []string {
	pairs := strings.Fields(spec)
	if len(pairs) == 0 {
		return []string{"IMAGE_INDEXES is empty: set it to space-separated name=RLOCATIONPATH pairs in the test's env"}
	}
	var out []string
	for _, pair := range pairs {
		name, rloc, ok := strings.Cut(pair, "=")
		if !ok || name == "" || rloc == "" {
			out = append(out, fmt.Sprintf("IMAGE_INDEXES entry %q: want name=RLOCATIONPATH", pair))
			continue
		}
		dir, err := runfiles.Rlocation(rloc)
		if err != nil {
			out = append(out, name+": "+err.Error())
			continue
		}
		idx, err := OpenLayout(dir)
		if err != nil {
			out = append(out, name+": "+err.Error())
			continue
		}
		for _, p := range CheckIndex(idx, Expectations{Name: name, Port: port}) {
			out = append(out, name+": "+p.String())
		}
	}
	return out
}
