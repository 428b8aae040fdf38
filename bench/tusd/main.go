// Command tusd is the reference tus server, github.com/tus/tusd/v2's handler, for comparing it
// with reelay's own (ingest) on the same work: bench/upload's -tier tusd runs it in a process of
// its own, as it runs `reelay ingest`, and e2e/tus/upload.mjs (tus-js-client with aborts) checks
// it too. It stages uploads on disk (filestore, with -dir) or in S3 as multipart uploads
// (s3store, with -bucket and -endpoint; credentials in REELAY_S3_ACCESS_KEY and
// REELAY_S3_SECRET_KEY, as reelay's), serves them at /v1/uploads/, and prints its listener
// ("tusd http://127.0.0.1:PORT") as reelay's commands do. It is a module of its own, so that
// tusd and the AWS SDK are no dependencies of reelay.
//
//	cd bench/tusd && go build -o ../../bin/tusd-bench . && cd ../.. && go run ./bench/upload -tier tusd
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tus/tusd/v2/pkg/filelocker"
	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	"github.com/tus/tusd/v2/pkg/s3store"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listener")
	dir := flag.String("dir", "", "filestore: the staging directory")
	bucket := flag.String("bucket", "", "s3store: the bucket, which must exist")
	endpoint := flag.String("endpoint", "", "s3store: the S3 endpoint, e.g. http://127.0.0.1:9000")
	maxSize := flag.Int64("max-size", 4<<30, "largest upload accepted")
	flag.Parse()

	composer := handler.NewStoreComposer()
	switch {
	case *dir != "" && *bucket == "":
		if err := os.MkdirAll(*dir, 0o700); err != nil {
			log.Fatal(err)
		}
		filestore.New(*dir).UseIn(composer)
		filelocker.New(*dir).UseIn(composer)
	case *bucket != "" && *endpoint != "" && *dir == "":
		client := s3.New(s3.Options{
			BaseEndpoint: aws.String(*endpoint), Region: "us-east-1", UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(os.Getenv("REELAY_S3_ACCESS_KEY"), os.Getenv("REELAY_S3_SECRET_KEY"), ""),
		})
		store := s3store.New(*bucket, client)
		store.UseIn(composer)
		memorylocker.New().UseIn(composer)
	default:
		log.Fatal("give -dir, or -bucket and -endpoint")
	}
	h, err := handler.NewHandler(handler.Config{BasePath: "/v1/uploads/", StoreComposer: composer, MaxSize: *maxSize})
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("tusd http://%s\n", l.Addr())
	srv := &http.Server{Handler: http.StripPrefix("/v1/uploads/", h)}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
