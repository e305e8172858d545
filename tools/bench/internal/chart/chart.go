// Package chart draws benchmark results as line charts in one PNG, one panel
// per chart, stacked: throughput against a setting says more than a table.
package chart

import (
	"errors"
	"fmt"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Series is one line.
type Series struct {
	Name string
	X, Y []float64
}

// Chart is one panel.
type Chart struct {
	Title, XLabel, YLabel string
	Series                []Series
}

// Panel size, and the resolution of the PNG.
const (
	panelWidth  = 7 * vg.Inch
	panelHeight = 3.6 * vg.Inch
	dpi         = 110
)

// WritePNG renders charts one above the other into a PNG on w.
func WritePNG(w io.Writer, charts ...Chart) error {
	if len(charts) == 0 {
		return errors.New("chart: nothing to draw")
	}
	plots := make([][]*plot.Plot, len(charts))
	for i, c := range charts {
		p, err := build(c)
		if err != nil {
			return fmt.Errorf("chart %q: %w", c.Title, err)
		}
		plots[i] = []*plot.Plot{p}
	}
	img := vgimg.NewWith(vgimg.UseWH(panelWidth, panelHeight*vg.Length(len(charts))), vgimg.UseDPI(dpi))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(charts), Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter, PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

func build(c Chart) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	for i, s := range c.Series {
		if len(s.X) != len(s.Y) || len(s.X) == 0 {
			return nil, fmt.Errorf("series %q: %d x values and %d y values", s.Name, len(s.X), len(s.Y))
		}
		pts := make(plotter.XYs, len(s.X))
		for j := range s.X {
			pts[j].X, pts[j].Y = s.X[j], s.Y[j]
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		col := plotutil.Color(i)
		line.Color, points.Color = col, col
		line.Width = vg.Points(1.5)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(s.Name, line, points)
	}
	p.BackgroundColor = color.White
	return p, nil
}
