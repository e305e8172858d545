package message

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// dataJSON is a data object with the four fields' JSON values as given.
func dataJSON(subject, sender, timestream, content string) string {
	return `{"email_subject":` + subject + `,"email_sender":` + sender +
		`,"email_timestream":` + timestream + `,"email_content":` + content + `}`
}

// withContent is a valid request body but for the JSON of its content.
func withContent(content string) string {
	return `{"data":` + dataJSON(`"s"`, `"a@b.c"`, `"t"`, content) + `,"token":"t"}`
}

var goodData = dataJSON(`"s"`, `"a@b.c"`, `"t"`, `"c"`)

// commonCases are bodies the fast path must read itself.
var commonCases = []string{
	validBody,
	`{"token":"t","data":` + goodData + `}`,
	" \t\r\n{ \"data\" :\n{\"email_content\" : \"c\" ,\t\"email_timestream\":\"t\",\r\"email_sender\":\"a@b.c\", \"email_subject\":\"s\" } , \"token\" : \"t\" }\n\t \r",
	withContent(`"\" \\ \/ \b \f \n \r \t \u00e9\u00E9 \u0000 \u2028 \uFFFF \ufffd"`),
	withContent(`"\ud83d\ude00 \uD83D\uDE00 \udbff\udfff"`),
	withContent(`"\\ud800 \\\ud83d\ude00"`),
	withContent(`"raw é 😀 ` + "\uFFFD\u2028\x7f" + `"`),
	`{"data":` + dataJSON(`""`, `" "`, `"\u0000"`, `""`) + `,"token":""}`,
	`{"tok\u0065n":"t","d\u0061ta":{"email_\u0073ubject":"s","email_sender":"a@b.c","email_timestream":"t","email_content":"c"}}`,
}

// bailOuts are bodies outside the common case, by kind, which the fast path
// must leave to the walker.
var bailOuts = map[string]string{
	"empty body":                   ``,
	"only whitespace":              " \n",
	"BOM":                          "\uFEFF" + validBody,
	"form feed as whitespace":      "\f" + validBody,
	"no-break space as whitespace": validBody + "\u00a0",
	"invalid UTF-8 in a value":     withContent("\"\xff\""),
	"invalid UTF-8 outside":        validBody + "\xff",
	"not an object":                `[]`,
	"null":                         `null`,
	"missing token":                `{"data":` + goodData + `}`,
	"missing data":                 `{"token":"t"}`,
	"missing data field":           `{"data":{"email_subject":"s","email_sender":"a@b.c","email_timestream":"t"},"token":"t"}`,
	"empty data":                   `{"data":{},"token":"t"}`,
	"unknown member":               `{"data":` + goodData + `,"token":"t","admin":true}`,
	"unknown data member":          `{"data":{"email_subject":"s","email_sender":"a@b.c","email_timestream":"t","email_content":"c","cc":"x"},"token":"t"}`,
	"member in other case":         `{"data":` + goodData + `,"Token":"t"}`,
	"repeated member":              `{"data":` + goodData + `,"token":"t","token":"u"}`,
	"repeated instead of missing":  `{"token":"t","token":"u"}`,
	"repeated data field":          `{"data":{"email_subject":"s","email_subject":"s","email_timestream":"t","email_content":"c"},"token":"t"}`,
	"number value":                 `{"data":` + goodData + `,"token":1}`,
	"null value":                   withContent(`null`),
	"nested object in data":        withContent(`{"a":"b"}`),
	"array in data":                withContent(`["c"]`),
	"data not an object":           `{"data":"x","token":"t"}`,
	"trailing garbage":             validBody + ` x`,
	"trailing object":              validBody + `{}`,
	"trailing comma":               `{"data":` + goodData + `,"token":"t",}`,
	"missing comma":                `{"data":` + goodData + ` "token":"t"}`,
	"missing colon":                `{"data":` + goodData + `,"token" "t"}`,
	"truncated":                    validBody[:len(validBody)-1],
	"unterminated string":          `{"data":` + goodData + `,"token":"t`,
	"raw control byte":             withContent("\"a\x01b\""),
	"raw tab":                      withContent("\"a\tb\""),
	"bad escape":                   withContent(`"\x41"`),
	"escaped apostrophe":           withContent(`"\'"`),
	"short unicode escape":         withContent(`"\u12"`),
	"non-hex unicode escape":       withContent(`"\u12G4"`),
	"lone high surrogate":          withContent(`"a\ud800"`),
	"lone low surrogate":           withContent(`"\udc00a"`),
	"two high surrogates":          withContent(`"\ud83d\ud83d\ude00"`),
	"high surrogate, then a char":  withContent(`"\ud83d\u0041"`),
	"high surrogate, then \\\\":    withContent(`"\ud800\\udc00"`),
	"lone surrogate in a key":      `{"data":` + goodData + `,"token":"t","\ud800":"x"}`,
}

func TestFastPathReadsTheCommonCase(t *testing.T) {
	for _, body := range commonCases {
		got, ok := fastRequest([]byte(body))
		if !ok {
			t.Errorf("fast path gave up on %q", body)
			continue
		}
		want, err := walkRequest([]byte(body))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: fast path read %+v, walker %+v, %v", body, got, want, err)
		}
	}
	if _, ok := fastData([]byte(goodData)); !ok {
		t.Errorf("fast path gave up on the data object %s", goodData)
	}
}

func TestFastPathLeavesTheRestToTheWalker(t *testing.T) {
	for name, body := range bailOuts {
		if req, ok := fastRequest([]byte(body)); ok {
			t.Errorf("%s: fast path read %q as %+v", name, body, req)
		}
	}
	for name, body := range map[string]string{
		"request":     validBody,
		"token":       strings.TrimSuffix(goodData, "}") + `,"token":"t"}`,
		"missing":     `{"email_subject":"s"}`,
		"trailing":    goodData + `x`,
		"number":      dataJSON(`"s"`, `"a@b.c"`, `"t"`, `1`),
		"nested data": `{"data":` + goodData + `}`,
	} {
		if d, ok := fastData([]byte(body)); ok {
			t.Errorf("%s: fast path read %q as %+v", name, body, d)
		}
	}
}

func TestFastPathMatchesWalker(t *testing.T) {
	for _, input := range fastParseSeeds(t) {
		assertSameAsWalkerInAndAround(t, input)
	}
}

// FuzzFastParseMatchesWalker checks that, whatever the input, ParseRequest
// and DecodeData return exactly what the walker alone would.
func FuzzFastParseMatchesWalker(f *testing.F) {
	for _, input := range fastParseSeeds(f) {
		f.Add(input)
	}
	f.Fuzz(assertSameAsWalkerInAndAround)
}

// assertSameAsWalkerInAndAround tries the input as a body, and as the text
// of a string in an otherwise valid body: most mutations break the JSON
// around the strings, and only inside one does the input reach the fast
// path's decoding of escapes.
func assertSameAsWalkerInAndAround(t *testing.T, input []byte) {
	assertSameAsWalker(t, input)
	value := `"` + string(input) + `"`
	assertSameAsWalker(t, []byte(withContent(value)))
	assertSameAsWalker(t, []byte(dataJSON(`"s"`, `"a@b.c"`, `"t"`, value)))
}

func assertSameAsWalker(t *testing.T, body []byte) {
	req, err := ParseRequest(body)
	wantReq, wantErr := walkRequest(body)
	if !reflect.DeepEqual(req, wantReq) || !sameError(err, wantErr) {
		t.Errorf("ParseRequest(%q)\n = %#v, %v\nwalker: %#v, %v", body, req, err, wantReq, wantErr)
	}
	d, err := DecodeData(body)
	wantData, wantErr := walkData(body)
	if d != wantData || !sameError(err, wantErr) {
		t.Errorf("DecodeData(%q)\n = %#v, %v\nwalker: %#v, %v", body, d, err, wantData, wantErr)
	}
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	var ea, eb *Error
	return errors.As(a, &ea) && errors.As(b, &eb) && ea.Kind == eb.Kind && a.Error() == b.Error()
}

// fastParseSeeds are the cases above, FuzzParseRequest's seeds and its
// corpus, some string contents, and the data objects cut out of the
// requests, for DecodeData.
func fastParseSeeds(tb testing.TB) [][]byte {
	bodies := append([]string(nil), commonCases...)
	for _, body := range bailOuts {
		bodies = append(bodies, body)
	}
	bodies = append(bodies,
		`{"data":{},"token":""}`,
		`{"data":{"email_subject":"\ud800","email_sender":"a@b.c","email_timestream":"t","email_content":"c"},"token":"t"}`,
		`{"data":{"email_subject":"s","email_sender":"a@b.c","email_timestream":"t","email_content":"a\ud800b\ufffd"},"token":"t"}`,
		`{"data":{"email_subject":"s","email_sender":"a@b.c","email_timestream":"t","email_content":"\\ud800\ud83d\ude00\ufffe"},"token":"t"}`,
		`{"data":null}`,
		withContent(`"\u0000"`),
		withContent(`"x"`)+" \t\r\n",
		" \n"+goodData+"\n",
	)
	bodies = append(bodies, fuzzCorpus(tb, "testdata/fuzz/FuzzParseRequest")...)
	// The text of strings, for the fuzzer to grow inside one.
	bodies = append(bodies, `\" \\ \/ \b \f \n \r \t \u00e9 \u0000`, `\ud83d\ude00`, `\ud800`, `\udc00`, `\\ud800`, `\ud800\\udc00`, "\uFFFD\x01")
	var seeds [][]byte
	for _, body := range bodies {
		seeds = append(seeds, []byte(body))
		if data, ok := dataMember(body); ok {
			seeds = append(seeds, []byte(data))
		}
	}
	return seeds
}

// dataMember cuts the data object out of a request body built above, so
// that DecodeData is tried on the same cases as ParseRequest.
func dataMember(body string) (string, bool) {
	_, data, ok := strings.Cut(body, `"data":`)
	if !ok {
		return "", false
	}
	data, _, ok = strings.Cut(data, `,"token"`)
	return data, ok
}

// fuzzCorpus reads the inputs a fuzz target's corpus directory holds.
func fuzzCorpus(tb testing.TB, dir string) []string {
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no corpus in %s: %v", dir, err)
	}
	var inputs []string
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		_, lit, _ := strings.Cut(strings.TrimSpace(string(b)), "\n[]byte(")
		input, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
		if err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		inputs = append(inputs, input)
	}
	return inputs
}
