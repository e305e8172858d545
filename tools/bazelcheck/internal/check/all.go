package check

// All runs every check: loading errors first, then labels and visibility,
// then attribute schemas.
func All(ws *Workspace) []Finding {
	var out []Finding
	for _, e := range ws.Errors {
		out = append(out, Finding{Where: "loading", Msg: e})
	}
	out = append(out, ws.CheckLabels()...)
	out = append(out, ws.CheckSchemas()...)
	return out
}
