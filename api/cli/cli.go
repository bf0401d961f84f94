// Package cli is the api binary's command line: serve (the default),
// migrate and user create.
package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/chargeplane/chargeplane/api/app"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/config"
	"github.com/chargeplane/chargeplane/pkg/tracing"
)

// Options are the process's surroundings, replaceable in tests.
type Options struct {
	// Environ is the configuration source; nil reads the process environment.
	Environ map[string]string
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	// Signals ends serve gracefully when it receives; nil listens for
	// SIGINT and SIGTERM.
	Signals <-chan os.Signal
	// OpenAPI is served at /api/v1/openapi.json when set.
	OpenAPI []byte
}

func (o *Options) defaults() {
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
}

func (o *Options) load() (config.Config, *slog.Logger, error) {
	var cfg config.Config
	var err error
	if o.Environ != nil {
		cfg, err = config.LoadFrom(config.API, o.Environ)
	} else {
		cfg, err = config.Load(config.API)
	}
	if err != nil {
		return cfg, nil, err
	}
	return cfg, cfg.NewLogger(o.Stderr), nil
}

// Execute runs the command line and returns the process exit code.
func Execute(ctx context.Context, args []string, opts Options) int {
	opts.defaults()
	root := NewRootCommand(&opts)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(opts.Stderr, "error:", err)
		return 1
	}
	return 0
}

// NewRootCommand builds the command tree; running it bare serves.
func NewRootCommand(opts *Options) *cobra.Command {
	opts.defaults()
	root := &cobra.Command{
		Use:   "api",
		Short: "Chargeplane core: OCPP central system API (serves by default)",
		Long: "Chargeplane core. Without DATABASE_URL and AMQP_URL it runs the whole system in one\n" +
			"process (SQLite, in-process bus, embedded OCPP gateway on OCPP_ADDR).\n" +
			"Configuration comes from environment variables, listed below and in .env.example.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), opts) },
	}
	// Every command reads the settings, so every command's --help lists them.
	root.SetHelpTemplate(root.HelpTemplate() + "\n" + strings.ReplaceAll(config.Help(config.API), "{{", "{{`{{`}}"))
	root.SetIn(opts.Stdin)
	root.SetOut(opts.Stdout)
	root.SetErr(opts.Stderr)
	root.AddCommand(
		&cobra.Command{
			Use:   "serve",
			Short: "Run the core (gRPC, REST and, in the embedded mode, the OCPP gateway)",
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), opts) },
		},
		&cobra.Command{
			Use:   "migrate",
			Short: "Apply pending database migrations and exit",
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return migrate(cmd.Context(), opts) },
		},
		newUserCommand(opts),
	)
	return root
}

func serve(ctx context.Context, opts *Options) error {
	cfg, logger, err := opts.load()
	if err != nil {
		return err
	}
	stopTracing, err := tracing.Setup(ctx, "chargeplane-api", logger)
	if err != nil {
		return err
	}
	defer stopTracing()
	slog.SetDefault(logger)
	signals := opts.Signals
	if signals == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(ch)
		signals = ch
	}

	a, err := app.New(cfg, logger)
	if err != nil {
		return err
	}
	a.OpenAPI = opts.OpenAPI
	if err := a.Start(ctx); err != nil {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = a.Shutdown(shutdownCtx)
		return err
	}

	var runErr error
	select {
	case sig := <-signals:
		logger.Info("signal received, shutting down", "signal", sig.String(), "timeout", cfg.ShutdownTimeout)
	case <-ctx.Done():
		logger.Info("context done, shutting down")
	case runErr = <-a.Failed():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := a.Shutdown(shutdownCtx); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

func storeConfig(cfg config.Config, logger *slog.Logger) store.Config {
	return store.Config{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir, Logger: logger}
}

// openDatabase opens the database the settings select for a command
// (migrate, user create), having said which on stderr: a command run with
// other settings than the server's (another DATA_DIR or DATABASE_URL, or
// another working directory for the relative default ./data) writes where
// the server never looks, and the mistake would otherwise show only at
// login. Its errors, and the name it returns for the caller's, say which
// database too.
//
// forServer refuses a database without a schema while an api answers on
// HTTP_ADDR: a serving api has migrated its database, so an empty one is
// not its (checked before a missing SQLite file is created). migrateSchema
// brings the schema up to date; without it an old schema is an error.
func openDatabase(ctx context.Context, opts *Options, cfg config.Config, logger *slog.Logger, forServer, migrateSchema bool) (*store.Store, string, error) {
	sc := storeConfig(cfg, logger)
	where := sc.Describe()
	fmt.Fprintln(opts.Stderr, "database:", where)
	missing := false
	if path := sc.SQLitePath(); path != "" {
		_, err := os.Stat(path)
		missing = errors.Is(err, fs.ErrNotExist)
	}
	if missing && forServer {
		if err := refuseEmpty(ctx, cfg, where); err != nil {
			return nil, where, err
		}
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	st, err := store.Open(openCtx, sc)
	cancel()
	if err != nil {
		return nil, where, fmt.Errorf("%s: %w", where, err)
	}
	if err := prepare(ctx, opts, cfg, st, where, missing, forServer, migrateSchema); err != nil {
		_ = st.Close()
		return nil, where, err
	}
	return st, where, nil
}

func prepare(ctx context.Context, opts *Options, cfg config.Config, st *store.Store, where string, missing, forServer, migrateSchema bool) error {
	current, newest, err := st.SchemaVersions(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if current == 0 && !missing && forServer {
		if err := refuseEmpty(ctx, cfg, where); err != nil {
			return err
		}
	}
	if current >= newest {
		return nil
	}
	if !migrateSchema {
		return fmt.Errorf("%s: its schema is at version %d and this build needs %d (MIGRATE_ON_START=false): "+
			"run `api migrate` with the same DATA_DIR or DATABASE_URL first", where, current, newest)
	}
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if current == 0 && forServer {
		// A fresh install may create its first user before the first serve.
		fmt.Fprintln(opts.Stderr, "note: the database was empty and now has the schema; start the server with the same DATA_DIR or DATABASE_URL")
	}
	return nil
}

// refuseEmpty fails when an api answers on cfg's HTTP_ADDR: the empty
// database where cannot be the one it serves.
func refuseEmpty(ctx context.Context, cfg config.Config, where string) error {
	if url, ok := serving(ctx, cfg.HTTPAddr); ok {
		return fmt.Errorf("%s has no schema, so it is not the database of the api answering at %s: "+
			"run this command with the server's DATA_DIR (or DATABASE_URL), from the directory the server was started in if DATA_DIR is relative", where, url)
	}
	return nil
}

// serving reports whether a Chargeplane api answers /healthz on addr (a
// listen address: no host or a wildcard one means this machine).
func serving(ctx context.Context, addr string) (string, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/healthz", nil)
	if err != nil {
		return "", false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var health struct {
		Status string `json:"status"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1024)).Decode(&health) != nil || health.Status != "ok" {
		return "", false
	}
	return url, true
}

func migrate(ctx context.Context, opts *Options) error {
	cfg, logger, err := opts.load()
	if err != nil {
		return err
	}
	st, _, err := openDatabase(ctx, opts, cfg, logger, false, true)
	if err != nil {
		return err
	}
	defer st.Close()
	logger.Info("database migrated")
	return nil
}

type userFlags struct {
	email, password, first, last, role string
}

func newUserCommand(opts *Options) *cobra.Command {
	user := &cobra.Command{Use: "user", Short: "Manage operators who log in to the API"}
	var f userFlags
	create := &cobra.Command{
		Use:   "create -m EMAIL -p PASSWORD -f FIRST -l LAST [-r ROLE]",
		Short: "Create a user account (-p - reads the password from stdin; -r admin, operator or viewer)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return createUser(cmd.Context(), opts, f) },
	}
	create.Flags().StringVarP(&f.email, "email", "m", "", "email address (login name, case-insensitive)")
	create.Flags().StringVarP(&f.password, "password", "p", "", "password: at least 12 characters, not easy to guess; - reads it from stdin")
	create.Flags().StringVarP(&f.first, "first-name", "f", "", "first name")
	create.Flags().StringVarP(&f.last, "last-name", "l", "", "last name")
	// admin by default so that the first user of a fresh install can
	// manage the others.
	create.Flags().StringVarP(&f.role, "role", "r", string(auth.RoleAdmin), "role: admin, operator or viewer")
	_ = create.MarkFlagRequired("email")
	_ = create.MarkFlagRequired("password")
	user.AddCommand(create)
	return user
}

func createUser(ctx context.Context, opts *Options, f userFlags) error {
	email := strings.TrimSpace(f.email)
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
		return fmt.Errorf("invalid email address %q", f.email)
	}
	role, err := auth.ParseRole(f.role)
	if err != nil {
		return err
	}
	password := f.password
	if password == "-" {
		line, err := bufio.NewReader(opts.Stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password from stdin: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if err := auth.CheckPassword(password, email, f.first, f.last); err != nil {
		return err
	}

	cfg, logger, err := opts.load()
	if err != nil {
		return err
	}
	st, where, err := openDatabase(ctx, opts, cfg, logger, true, cfg.MigrateOnStart)
	if err != nil {
		return err
	}
	defer st.Close()
	hash, err := auth.HashSecret(password)
	if err != nil {
		return err
	}
	u := &store.User{Email: email, PasswordHash: hash, FirstName: strings.TrimSpace(f.first), LastName: strings.TrimSpace(f.last), Role: string(role)}
	if err := st.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("a user with email %s already exists", strings.ToLower(email))
		}
		return fmt.Errorf("%s: %w", where, err)
	}
	logger.Info("user created", "user", u.ID, "email", u.Email, "role", u.Role)
	fmt.Fprintf(opts.Stdout, "created %s %s (%s)\n", u.Role, u.Email, u.ID)
	return nil
}
