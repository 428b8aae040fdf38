package demo

import "fmt"

// User is a demo account.
type User struct {
	Handle  string
	Admin   bool     // made an admin as `reelay admin grant` does
	Follows []string // the handles they follow
}

// AdminHandle is the demo admin's handle.
const AdminHandle = "demo_admin"

// Users are the demo accounts: five creators, each with a look of their own, two viewers
// and the admin, who follows everyone. Every one has the demo password.
func Users() []User {
	return []User{
		{Handle: "pattern.pat", Follows: []string{"fractal.fran", "bars.and.tones"}},
		{Handle: "fractal.fran", Follows: []string{"lifeform.lu"}},
		{Handle: "bars.and.tones", Follows: []string{"pattern.pat"}},
		{Handle: "lifeform.lu", Follows: []string{"fractal.fran", "gradient.gus"}},
		{Handle: "gradient.gus", Follows: []string{"lifeform.lu", "pattern.pat"}},
		{Handle: "viewer.vic", Follows: []string{"fractal.fran", "gradient.gus", "lifeform.lu"}},
		{Handle: "sam.scrolls", Follows: []string{"pattern.pat", "bars.and.tones"}},
		{Handle: AdminHandle, Admin: true, Follows: []string{"pattern.pat", "fractal.fran", "bars.and.tones", "lifeform.lu", "gradient.gus"}},
	}
}

// Spec is one clip of the demo catalogue: who posts it, with what caption, and how it looks.
type Spec struct {
	Look    string // the look's name, e.g. "mandelbrot"
	Creator string // the handle of the user who uploads it
	Caption string // with its hashtags
	Clip    Clip
}

// look is a kind of picture and sound, and who posts it. Its video chain takes %[1]s, the
// size it is made at (a cheap source is made at the clip's size; a costly one smaller and
// scaled up), and %[2]d, a number from 0 to 359 that varies between clips (a hue shift).
type look struct {
	name, creator string
	video         string
	shrink        int // made at 1/shrink of the width and height, then scaled up: 0 or 1 for full size
	audio         string
	captions      [2]string
}

var looks = []look{
	{"testsrc2", "pattern.pat", "testsrc2=s=%[1]s:r=30,hue=h=%[2]d", 1, "sine=f=440:beep_factor=4",
		[2]string{"The classic warm-up pattern #testpattern #retro", "Counting frames so you don't have to #testpattern #timecode"}},
	{"smptebars", "bars.and.tones", "smptebars=s=%[1]s:r=30,hue=h=%[2]d", 1, "sine=f=1000",
		[2]string{"Bars and tone, the way it used to be #bars #broadcast #retro", "Stand by: we'll be right back #bars #broadcast"}},
	{"mandelbrot", "fractal.fran", "mandelbrot=s=%[1]s:r=30:start_scale=2.5:end_scale=0.05,hue=h=%[2]d", 2, "anoisesrc=color=brown:amplitude=0.15",
		[2]string{"Falling into the Mandelbrot set #fractal #zoom #math", "Infinite coastline, finite clip #fractal #math"}},
	{"life", "lifeform.lu", "life=s=%[1]s:r=30:mold=10:ratio=0.3:life_color=#40ff80:death_color=#602040,hue=h=%[2]d,scale=iw*4:ih*4:flags=neighbor", 4, "anoisesrc=color=pink:amplitude=0.1",
		[2]string{"Conway's Game of Life, a few seconds of it #life #cellular #generative", "They grow, they mould, they die #life #generative"}},
	{"cellauto", "lifeform.lu", "cellauto=s=%[1]s:r=30:rule=110:random_fill_ratio=0.5,hue=h=%[2]d", 1, "sine=f=220:beep_factor=2",
		[2]string{"Rule 110 is Turing complete, and it scrolls #cellular #rule110 #generative", "One dimension, all the drama #cellular #generative"}},
	{"gradients", "gradient.gus", "gradients=s=%[1]s:r=30:n=5:speed=0.03:seed=%[2]d", 2, "aevalsrc=0.15*sin(2*PI*330*t)+0.1*sin(2*PI*495*t)|0.15*sin(2*PI*392*t):s=48000",
		[2]string{"Colours drifting, nothing else #gradients #calm #ambient", "A slow gradient for a fast feed #gradients #ambient"}},
	{"sierpinski", "fractal.fran", "sierpinski=s=%[1]s:r=30:type=triangle,hue=h=%[2]d", 2, "sine=f=660:beep_factor=3",
		[2]string{"Triangles all the way down #fractal #sierpinski #math", "Sierpinski, moving #fractal #math"}},
	{"colorspectrum", "gradient.gus", "colorspectrum=s=%[1]s:type=all,hue=H=2*PI*t/4+%[2]d", 1, "aevalsrc=0.2*sin(2*PI*(200+100*t)*t):s=48000",
		[2]string{"Every colour at once, then again #spectrum #colour #calm", "The spectrum, rotating #spectrum #colour"}},
	{"rgbtestsrc", "bars.and.tones", "rgbtestsrc=s=%[1]s:r=30,hue=H=2*PI*t/3+%[2]d", 1, "sine=f=880:beep_factor=6",
		[2]string{"Red, green, blue: checking the wiring #rgb #testpattern", "RGB test, hue on a spin #rgb #retro"}},
	{"smptehdbars", "pattern.pat", "smptehdbars=s=%[1]s:r=30,scroll=h=0.005,hue=h=%[2]d", 1, "anoisesrc=color=white:amplitude=0.05",
		[2]string{"HD bars, scrolling sideways #bars #broadcast", "Bars on the move #bars #testpattern"}},
}

// sizes are the clips' sizes in turn, all 9:16: most get two renditions (540p and 360p),
// some three, some one, so that the ladder varies without making the seed slow.
var sizes = [][2]int{{540, 960}, {540, 960}, {720, 1280}, {540, 960}, {360, 640}}

// seconds are the clips' lengths in turn: 3 to 8 s, the first short so that it is soon on.
var seconds = []float64{3, 5, 4, 7, 6, 3, 8, 5, 4, 6}

// Clips returns the first n clips of the demo catalogue: the looks in turn, each time in
// another size, length and colour, with the second of their captions the second time round.
func Clips(n int) []Spec {
	specs := make([]Spec, 0, n)
	for i := range n {
		l := looks[i%len(looks)]
		round := i / len(looks)
		w, h := sizes[i%len(sizes)][0], sizes[i%len(sizes)][1]
		mw, mh := w, h
		if l.shrink > 1 {
			mw, mh = w/l.shrink, h/l.shrink
		}
		caption := l.captions[round%2]
		if round >= 2 {
			caption = fmt.Sprintf("%s (take %d)", caption, round+1)
		}
		specs = append(specs, Spec{
			Look: l.name, Creator: l.creator, Caption: caption,
			Clip: Clip{
				Video: fmt.Sprintf(l.video, fmt.Sprintf("%dx%d", mw, mh), (i*67)%360),
				Audio: l.audio,
				Width: w, Height: h,
				Seconds: seconds[i%len(seconds)],
			},
		})
	}
	return specs
}
