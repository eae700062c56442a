// The live tests' container: an HTTP server whose start-up, readiness, exit and
// memory use are set by environment variables, so a real kubelet produces the
// pod stories the tests check (slow start, failing probe, crash loop, OOMKilled,
// Job success or failure, init containers).
//
//	START_DELAY  wait this long before listening (a slow start)
//	READY_AFTER  GET /ready answers 503 until this long after listening, then 200;
//	             "never": always 503 (a failing readiness probe)
//	EXIT_AFTER   exit this long after start ...
//	EXIT_CODE    ... with this code (default 0): a crash, or a Job's pod ending
//	MEMORY_MB    allocate and touch this many MiB at start (OOMKilled under a limit)
//	PORT         listen port (default 8080)
//
// Durations are Go durations ("1500ms", "2s").
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func duration(name string) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		log.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}

func number(name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		log.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// held keeps the allocated memory reachable.
var held [][]byte

func main() {
	start := time.Now()
	if mb := number("MEMORY_MB", 0); mb > 0 {
		log.Printf("allocating %d MiB", mb)
		for i := 0; i < mb; i++ {
			b := make([]byte, 1<<20)
			for j := range b {
				b[j] = byte(j)
			}
			held = append(held, b)
		}
	}
	if d := os.Getenv("EXIT_AFTER"); d != "" {
		code := number("EXIT_CODE", 0)
		time.AfterFunc(duration("EXIT_AFTER")-time.Since(start), func() {
			log.Printf("exiting with code %d", code)
			os.Exit(code)
		})
	}
	time.Sleep(duration("START_DELAY"))

	listening := time.Now()
	never := os.Getenv("READY_AFTER") == "never"
	var readyAfter time.Duration
	if !never {
		readyAfter = duration("READY_AFTER")
	}
	http.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if never || time.Since(listening) < readyAfter {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "kspan-rs test app") })

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		os.Exit(0)
	}()
	addr := fmt.Sprintf(":%d", number("PORT", 8080))
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}
