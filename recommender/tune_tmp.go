package recommender

import (
	"os"
	"strconv"
)

var (
	wQuality  = 1.0
	wAffinity = 0.5
	wContent  = 2.0
	wBatch    = 1.0
	wCovisit  = 0.4
	wFollow   = 0.3
)

func init() {
	for name, p := range map[string]*float64{"WQ": &wQuality, "WA": &wAffinity, "WC": &wContent, "WB": &wBatch, "WV": &wCovisit, "WF": &wFollow} {
		if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil {
			*p = v
		}
	}
}
