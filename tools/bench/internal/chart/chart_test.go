package chart

import (
	"bytes"
	"image/png"
	"math"
	"testing"

	"gonum.org/v1/plot/vg"
)

// Two panels stack into one PNG of twice a panel's height.
func TestWritePNG(t *testing.T) {
	var buf bytes.Buffer
	err := WritePNG(&buf,
		Chart{Title: "consumer", XLabel: "workers", YLabel: "msgs/s", Series: []Series{
			{Name: "1 receiver", X: []float64{10, 50, 100}, Y: []float64{300, 900, 1000}},
			{Name: "auto", X: []float64{10, 50, 100}, Y: []float64{350, 1700, 3000}},
		}},
		Chart{Title: "api", XLabel: "batches in flight", YLabel: "req/s", Series: []Series{
			{Name: "5 ms SQS", X: []float64{1, 4}, Y: []float64{2000, 6000}},
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	b := img.Bounds()
	wantW, wantH := int(math.Round(float64(panelWidth/vg.Inch)*dpi)), int(math.Round(float64(2*panelHeight/vg.Inch)*dpi))
	if abs(b.Dx()-wantW) > 1 || abs(b.Dy()-wantH) > 1 {
		t.Errorf("image is %dx%d, want %dx%d", b.Dx(), b.Dy(), wantW, wantH)
	}
}

func TestWritePNGRefusesBadInput(t *testing.T) {
	var buf bytes.Buffer
	if err := WritePNG(&buf); err == nil {
		t.Error("no charts: want an error")
	}
	bad := Chart{Title: "t", Series: []Series{{Name: "s", X: []float64{1, 2}, Y: []float64{1}}}}
	if err := WritePNG(&buf, bad); err == nil {
		t.Error("mismatched series: want an error")
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
