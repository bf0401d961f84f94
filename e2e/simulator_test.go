package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chargeplane/chargeplane/pkg/logtest"
)

// TestSimulator runs the bundled simulator, the binary a newcomer starts
// from the README, against both deployments: it charges when told, its
// sessions reach the database with their energy, it fails over between
// gateways, and it says why it is refused.
func TestSimulator(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "simulator")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "../tools/simulator")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./tools/simulator: %v\n%s", err, out)
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t)
			for _, v := range versions {
				t.Run("RemoteStartStop/"+v.name, func(t *testing.T) { testSimulatorCharges(t, sys, bin, v) })
			}
			t.Run("Failover", func(t *testing.T) { testSimulatorFailover(t, sys, bin) })
			t.Run("Refused", func(t *testing.T) { testSimulatorRefused(t, sys, bin) })
		})
	}
}

// simProcess is a running simulator; its logs are kept for the test.
type simProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	logs  *logtest.Buffer
	done  chan error
}

// startSimulator runs the simulator binary; at cleanup it is stopped with
// SIGINT, as Ctrl-C does, and must exit 0 with no error logged.
func startSimulator(t *testing.T, bin string, args ...string) *simProcess {
	t.Helper()
	p := &simProcess{cmd: exec.Command(bin, args...), logs: &logtest.Buffer{}, done: make(chan error, 1)}
	p.cmd.Stderr = p.logs
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start the simulator: %v", err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-p.done:
			if err != nil {
				t.Errorf("simulator exited: %v", err)
			}
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Error("simulator did not stop on SIGINT")
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("simulator logs:\n%s", p.logs)
		}
	})
	return p
}

// waitLog waits until the simulator has logged want.
func (p *simProcess) waitLog(t *testing.T, want string) {
	t.Helper()
	eventually(t, "simulator logs "+strconv.Quote(want), func() (bool, string) {
		return strings.Contains(p.logs.String(), want), p.logs.String()
	})
}

func testSimulatorCharges(t *testing.T, sys *system, bin string, v ocppVersion) {
	ctx := testCtx(t)
	id := newStationID("sim")
	const password = "0123456789abcdef"
	sys.rest.createStation(ctx, t, id, password)
	tag := "SIM" + strings.ToUpper(uuid.NewString()[:8])
	createToken(ctx, t, sys, map[string]any{"value": tag})
	sim := startSimulator(t, bin, "-url", sys.gateway(v.index), "-id", id, "-version", v.name, "-password", password,
		"-connectors", "2", "-power", "22", "-meter-interval", "200ms")
	eventually(t, "station online with its connectors Available", func() (bool, string) {
		st := sys.rest.getStation(ctx, t, id)
		c, ok := st.connector(simConnector(v, 2))
		return st.Connected && ok && c.Status == "Available", fmt.Sprintf("%+v", st)
	})

	start := map[string]any{"idToken": tag, "connectorId": 2}
	if v.name == "2.0.1" {
		start = map[string]any{"idToken": tag, "evseId": 2}
	}
	code, _, raw, err := sys.rest.do(ctx, http.MethodPost, "/api/v1/stations/"+id+"/remote-start", start, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("remote start: %d %s %v", code, raw, err)
	}
	var rs ctlRemoteStart
	if err := decodeAPI(raw, &rs); err != nil || rs.Status != "Accepted" || rs.Transaction == nil {
		t.Fatalf("remote start = %s, want Accepted with the transaction the simulator started", raw)
	}
	txPath := "/api/v1/transactions/" + rs.Transaction.ID
	getTx := func() apiTransaction {
		code, _, raw, err := sys.rest.do(ctx, http.MethodGet, txPath, nil, true)
		var tx apiTransaction
		if err != nil || code != http.StatusOK || decodeAPI(raw, &tx) != nil {
			t.Fatalf("GET %s: %d %s %v", txPath, code, raw, err)
		}
		return tx
	}
	// Meter values arrive, the energy register growing.
	eventually(t, "meter values of the session", func() (bool, string) {
		tx := getTx()
		var regs []float64
		for _, mv := range tx.MeterValues {
			if mv.Measurand == "Energy.Active.Import.Register" && mv.ValueWh != nil {
				regs = append(regs, *mv.ValueWh)
			}
		}
		return len(regs) >= 3 && regs[len(regs)-1] > regs[0], fmt.Sprintf("registers %v", regs)
	})
	st := sys.rest.getStation(ctx, t, id)
	charging := map[string]string{"1.6": "Charging", "2.0.1": "Occupied"}[v.name]
	if c, _ := st.connector(simConnector(v, 2)); c.Status != charging {
		t.Errorf("connector 2 is %q while charging, want %q", c.Status, charging)
	}

	code, _, raw, err = sys.rest.do(ctx, http.MethodPost, "/api/v1/stations/"+id+"/remote-stop", map[string]any{"transactionId": rs.Transaction.ID}, true)
	if err != nil || code != http.StatusOK || !strings.Contains(string(raw), "Accepted") {
		t.Fatalf("remote stop: %d %s %v", code, raw, err)
	}
	eventually(t, "the session ended with its energy", func() (bool, string) {
		tx := getTx()
		ok := tx.Status == "Ended" && tx.StopReason == "Remote" && tx.EnergyWh != nil && *tx.EnergyWh > 0 &&
			tx.MeterStartWh != nil && tx.MeterStopWh != nil && *tx.MeterStopWh-*tx.MeterStartWh == *tx.EnergyWh
		return ok, fmt.Sprintf("%+v", tx)
	})
	eventually(t, "connector 2 Available again", func() (bool, string) {
		st := sys.rest.getStation(ctx, t, id)
		c, _ := st.connector(simConnector(v, 2))
		return c.Status == "Available", fmt.Sprintf("%+v", st.Connectors)
	})
	sim.waitLog(t, "session ended")
	if strings.Contains(sim.logs.String(), "level=ERROR") || strings.Contains(sim.logs.String(), "violat") {
		t.Errorf("the strict simulator logged errors:\n%s", sim.logs)
	}
}

// simConnector is where the REST API shows the simulator's connector n:
// connector n of the station in 1.6, EVSE n's only connector in 2.0.1.
func simConnector(v ocppVersion, n int) (evse, connector int) {
	if v.name == "2.0.1" {
		return n, 1
	}
	return 0, n
}

// testSimulatorFailover gives the simulator two URLs: a dead one first.
// In scale-out the first is a gateway that then stops, so the station moves
// over while it runs.
func testSimulatorFailover(t *testing.T, sys *system, bin string) {
	ctx := testCtx(t)
	id := newStationID("simfo")
	sys.rest.createStation(ctx, t, id, "")
	live := sys.gateway(0)
	first := ""
	var stopFirst func()
	if sys.extraGateway != nil {
		gw := sys.extraGateway(t, nil)
		first, stopFirst = gw.url, gw.stop
	} else {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		first = "ws://" + l.Addr().String() + "/ocpp/"
		_ = l.Close()
	}
	sim := startSimulator(t, bin, "-url", first+","+live, "-id", id, "-connectors", "1", "-max-backoff", "1s")
	online := func(what string) {
		eventually(t, what, func() (bool, string) {
			st := sys.rest.getStation(ctx, t, id)
			return st.Connected, fmt.Sprintf("%+v", st)
		})
	}
	online("station online")
	if stopFirst != nil {
		sim.waitLog(t, "url="+strings.TrimSuffix(first, "/")+"/"+id+" version=")
		stopFirst()
		sim.waitLog(t, "url="+strings.TrimSuffix(live, "/")+"/"+id+" version=")
		online("station online again on the other gateway")
	} else {
		sim.waitLog(t, "url="+strings.TrimSuffix(live, "/")+"/"+id+" version=")
	}
}

func testSimulatorRefused(t *testing.T, sys *system, bin string) {
	ctx := testCtx(t)
	unknown := newStationID("simunk")
	sim := startSimulator(t, bin, "-url", sys.gateway(0), "-id", unknown)
	sim.waitLog(t, "the CSMS does not know station "+unknown+": register it first")

	id := newStationID("simpw")
	sys.rest.createStation(ctx, t, id, "0123456789abcdef")
	sim = startSimulator(t, bin, "-url", sys.gateway(0), "-id", id, "-password", "not-the-password-1")
	sim.waitLog(t, "wrong password for station "+id)
}
