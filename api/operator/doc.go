// Package operator implements the operator-facing gRPC services (login and
// station management) and the interceptors that guard every gRPC method:
// bearer-token authentication and panic recovery.
package operator
