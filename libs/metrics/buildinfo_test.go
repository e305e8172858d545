package metrics

import (
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildFromPrefersStampedValues(t *testing.T) {
	bi := &debug.BuildInfo{
		Main:     debug.Module{Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}},
	}
	for _, tc := range []struct {
		name                   string
		stampedVer, stampedRev string
		bi                     *debug.BuildInfo
		want                   Build
	}{
		{"stamped", "v2.0.0-3-gdeadbee", "deadbeef", bi, Build{"v2.0.0-3-gdeadbee", "deadbeef", runtime.Version()}},
		{"toolchain", "", "", bi, Build{"v1.2.3", "abc", runtime.Version()}},
		{"dirty tree", "", "", &debug.BuildInfo{
			Main:     debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}},
		}, Build{"unknown", "abc-dirty", runtime.Version()}},
		{"nothing known", "", "", nil, Build{"unknown", "unknown", runtime.Version()}},
	} {
		if got := buildFrom(tc.stampedVer, tc.stampedRev, tc.bi); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestBuildInfoIsExported(t *testing.T) {
	b := BuildInfo()
	if b.GoVersion != runtime.Version() || b.Version == "" || b.Revision == "" {
		t.Fatalf("BuildInfo() = %+v", b)
	}
	reg := NewRegistry()
	RegisterBuildInfo(reg, "t", Build{Version: "v1", Revision: "abc", GoVersion: "go1.26"})
	rec := httptest.NewRecorder()
	Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	want := `t_build_info{go_version="go1.26",revision="abc",version="v1"} 1`
	if !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("exposition lacks %s:\n%s", want, rec.Body)
	}
}
