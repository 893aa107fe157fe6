// Command plot draws the latency percentiles of a rate sweep (sweep.sh's
// out/sweep.tsv) against the request rate: one panel per percentile (p50,
// p90, p99), one line per target (cached, db-only, bare), both axes
// logarithmic, and the points where the target did not keep up (achieved
// rate short of the requested one, or failed requests) crossed out.
package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"math"
	"os"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	in := fs.String("in", "scripts/bench/out/sweep.tsv", "sweep results (TSV with a header line)")
	out := fs.String("out", "scripts/bench/out/latency.png", "PNG to write")
	title := fs.String("title", "", "text appended to each panel's title, e.g. the machine")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := os.Open(*in)
	if err != nil {
		return fmt.Errorf("open sweep results: %w", err)
	}
	points, err := readSweep(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("read %s: %w", *in, err)
	}
	if len(points) == 0 {
		return errors.New("no points in " + *in)
	}
	return render(points, *title, *out)
}

// Panel size of the PNG; three side by side.
const (
	panelWidth  = 11 * vg.Centimeter
	panelHeight = 10 * vg.Centimeter
	pngDPI      = 144
	// latencyFloorMS keeps a zero latency (an empty report) off a log axis.
	latencyFloorMS = 0.01
)

// Drawn in this order; a target the sweep did not measure is left out.
var targetStyles = []struct {
	name  string
	label string
	color color.Color
	glyph draw.GlyphDrawer
}{
	{"cached", "cached serve", color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, draw.CircleGlyph{}},
	{"db-only", "serve --cache=false", color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, draw.TriangleGlyph{}},
	{"bare", "bare net/http (ceiling)", color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}, draw.SquareGlyph{}},
}

var percentiles = []struct {
	title string
	value func(sweepPoint) float64
}{
	{"p50", func(p sweepPoint) float64 { return p.P50 }},
	{"p90", func(p sweepPoint) float64 { return p.P90 }},
	{"p99", func(p sweepPoint) float64 { return p.P99 }},
}

func render(points []sweepPoint, title, out string) error {
	byTarget := map[string][]sweepPoint{}
	var rates []float64
	yMin, yMax := math.Inf(1), math.Inf(-1)
	for _, p := range points {
		byTarget[p.Target] = append(byTarget[p.Target], p)
		if !slices.Contains(rates, p.Rate) {
			rates = append(rates, p.Rate)
		}
		for _, pc := range percentiles {
			v := max(pc.value(p), latencyFloorMS)
			yMin, yMax = min(yMin, v), max(yMax, v)
		}
	}
	slices.Sort(rates)
	for _, pts := range byTarget {
		slices.SortFunc(pts, func(a, b sweepPoint) int { return cmp.Compare(a.Rate, b.Rate) })
	}

	row := make([]*plot.Plot, len(percentiles))
	for i, pc := range percentiles {
		p, err := panel(byTarget, rates, pc.value, i == 0)
		if err != nil {
			return fmt.Errorf("%s panel: %w", pc.title, err)
		}
		p.Title.Text = pc.title + " latency against request rate"
		if title != "" {
			p.Title.Text += "\n" + title
		}
		// The same latency range in every panel, so they compare at a
		// glance; head room above for the legend.
		p.Y.Min, p.Y.Max = yMin/1.5, yMax*4
		row[i] = p
	}

	img := vgimg.NewWith(vgimg.UseWH(panelWidth*vg.Length(len(row)), panelHeight), vgimg.UseDPI(pngDPI))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(row), PadX: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align([][]*plot.Plot{row}, tiles, dc)
	for i, p := range row {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}

// panel draws one percentile for every target.
func panel(byTarget map[string][]sweepPoint, rates []float64, value func(sweepPoint) float64, legend bool) (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text = "requested rate (req/s, log)"
	p.Y.Label.Text = "latency (ms, log)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker = rateTicks(rates)
	p.Y.Tick.Marker = latencyTicks{}
	p.X.Min, p.X.Max = rates[0]/1.3, rates[len(rates)-1]*1.3
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true
	// Into the head room of the data area, clear of the title.
	p.Legend.XOffs, p.Legend.YOffs = vg.Millimeter*3, -vg.Millimeter*5
	p.Legend.TextStyle.Font.Size = vg.Points(9)

	missed := false
	for _, ts := range targetStyles {
		pts := byTarget[ts.name]
		if len(pts) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(pts))
		var failed plotter.XYs
		for i, pt := range pts {
			xys[i] = plotter.XY{X: pt.Rate, Y: max(value(pt), latencyFloorMS)}
			if !pt.keptUp() {
				failed = append(failed, xys[i])
			}
		}
		line, scatter, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ts.name, err)
		}
		line.Color, line.Width = ts.color, vg.Points(1.5)
		scatter.Color, scatter.Shape, scatter.Radius = ts.color, ts.glyph, vg.Points(3)
		p.Add(line, scatter)
		if legend {
			p.Legend.Add(ts.label, line, scatter)
		}
		if len(failed) > 0 {
			missed = true
			cross, err := plotter.NewScatter(failed)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ts.name, err)
			}
			cross.Color, cross.Shape, cross.Radius = color.Black, draw.CrossGlyph{}, vg.Points(6)
			p.Add(cross)
		}
	}
	if legend && missed {
		mark, err := plotter.NewScatter(plotter.XYs{{X: 1, Y: 1}})
		if err != nil {
			return nil, err
		}
		mark.Color, mark.Shape, mark.Radius = color.Black, draw.CrossGlyph{}, vg.Points(6)
		p.Legend.Add("not kept up (< 95% of the rate, or errors)", mark)
	}
	return p, nil
}

// rateTicks labels exactly the swept rates (250, 1k, 10k...) rather than
// powers of ten, so every point sits on a labelled tick.
func rateTicks(rates []float64) plot.Ticker {
	ticks := make([]plot.Tick, len(rates))
	for i, r := range rates {
		ticks[i] = plot.Tick{Value: r, Label: shortRate(r)}
	}
	return plot.ConstantTicks(ticks)
}

func shortRate(r float64) string {
	if r >= 1000 && math.Mod(r, 1000) == 0 {
		return strconv.FormatFloat(r/1000, 'f', -1, 64) + "k"
	}
	if r >= 1000 {
		return strconv.FormatFloat(r/1000, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// latencyTicks marks 1, 2 and 5 of every decade with a label and the other
// digits without one: plot.LogTicks labels decades only, which leaves a
// panel spanning less than two decades nearly unlabelled.
type latencyTicks struct{}

func (latencyTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for exp := math.Floor(math.Log10(lo)); exp <= math.Ceil(math.Log10(hi)); exp++ {
		decade := math.Pow(10, exp)
		for digit := 1.0; digit < 10; digit++ {
			v := digit * decade
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if digit == 1 || digit == 2 || digit == 5 {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}
