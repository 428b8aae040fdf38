package pipeline

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/storage"
	"github.com/reelay/reelay/transcoder"
)

// TestQueueMetrics scrapes the backlog that a pipeline registers, on each database: every
// kind it reports is there at 0 on an empty queue, and then counts the due jobs and the age
// of the oldest, whoever queued them.
func TestQueueMetrics(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *db.DB) {
		store, err := storage.NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		tc, err := transcoder.New(transcoder.Config{})
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		if _, err := New(Config{Registerer: reg, ScratchDir: t.TempDir()}, d, store, tc); err != nil {
			t.Fatal(err)
		}
		want := func(step string, queued map[string]float64, minAge map[string]float64) {
			t.Helper()
			got := gauges(t, reg, "reelay_jobs_queued")
			ages := gauges(t, reg, "reelay_jobs_oldest_age_seconds")
			for kind, n := range queued {
				if got[kind] != n {
					t.Errorf("%s: reelay_jobs_queued{kind=%q} = %v, want %v (all: %v)", step, kind, got[kind], n, got)
				}
				// A minute of slack for a slow machine; an age of 0 must be exact.
				if a := ages[kind]; a < minAge[kind] || a > minAge[kind]+60 || minAge[kind] == 0 && a != 0 {
					t.Errorf("%s: reelay_jobs_oldest_age_seconds{kind=%q} = %v, want %v", step, kind, a, minAge[kind])
				}
			}
			if len(got) != len(queued) || len(ages) != len(queued) {
				t.Errorf("%s: kinds %v and %v, want %d", step, got, ages, len(queued))
			}
		}
		want("empty queue", map[string]float64{JobKind: 0, video.FanoutJob: 0}, nil)

		ctx := t.Context()
		hourAgo := time.Now().Add(-time.Hour)
		for _, opts := range []db.EnqueueOptions{{RunAt: hourAgo}, {}, {RunAt: time.Now().Add(time.Hour)}} {
			if _, err := d.Enqueue(ctx, JobKind, []byte(`{}`), opts); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.Enqueue(ctx, video.FanoutJob, []byte(`{}`), db.EnqueueOptions{RunAt: time.Now().Add(-time.Minute)}); err != nil {
			t.Fatal(err)
		}
		want("queued", map[string]float64{JobKind: 2, video.FanoutJob: 1}, map[string]float64{JobKind: 3600, video.FanoutJob: 60})
	})
}

// gauges gathers reg and returns the values of the gauge name by its kind label.
func gauges(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		if mf.GetType() != dto.MetricType_GAUGE {
			t.Fatalf("%s is a %v, want a gauge", name, mf.GetType())
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" {
					out[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}
