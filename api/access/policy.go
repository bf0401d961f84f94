// Package access decides who may call what on the core's gRPC server (and
// so on REST, which the core forwards over its own gRPC): the one table of
// every method's policy below, and the interceptor that authenticates the
// caller (an access token or an API key), checks the policy and hands
// mutating calls to the audit trail.
package access

import (
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	"github.com/chargeplane/chargeplane/api/auth"
	v1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// Policy is what a gRPC method needs from its caller.
type Policy struct {
	// Role is the least role allowed to call; empty only for Public
	// methods.
	Role auth.Role
	// Mutates marks a call that changes something: the database, or a
	// charger (every command sent to one, "Get…" commands included, since
	// they cost the charger work and are kept in its command history).
	// Such calls are audited and never allowed to viewers.
	Mutates bool
	// Self marks a call on the caller's own account (changing one's own
	// password): any signed-in user may make it, whatever the role.
	Self bool
	// Public methods need no credential.
	Public bool
}

var (
	// read: a viewer may call it; it changes nothing.
	read = Policy{Role: auth.RoleViewer}
	// operate: an operator's change (stations, id tokens, commands).
	operate = Policy{Role: auth.RoleOperator, Mutates: true}
	// administer: an admin's change (users, API keys).
	administer = Policy{Role: auth.RoleAdmin, Mutates: true}
	// adminRead: only admins may read it (users, keys, the audit trail).
	adminRead = Policy{Role: auth.RoleAdmin}
	// operatorRead: only operators may read it (a customer's personal
	// data, which viewers have no business seeing); it changes nothing.
	operatorRead = Policy{Role: auth.RoleOperator}
	// self: a change to the caller's own account.
	self = Policy{Role: auth.RoleViewer, Mutates: true, Self: true}
	// public: no credential at all.
	public = Policy{Public: true}
)

// Policies is the access table: every method the core's gRPC server serves
// has exactly one entry, and a method without one is refused (the guard
// fails closed, the app refuses to start, and TestEveryMethodHasAPolicy
// fails). Adding an RPC means adding its line here.
var Policies = map[string]Policy{
	// Health probes and reflection: the API's shape is public (the project
	// is open source), and probes must work without a credential.
	healthpb.Health_Check_FullMethodName:                                   public,
	healthpb.Health_Watch_FullMethodName:                                   public,
	healthpb.Health_List_FullMethodName:                                    public,
	reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName:      public,
	reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: public,

	v1.AuthService_Login_FullMethodName:          public,
	v1.AuthService_GetCaller_FullMethodName:      read,
	v1.AuthService_ChangePassword_FullMethodName: self,

	v1.UserService_CreateUser_FullMethodName:    administer,
	v1.UserService_ListUsers_FullMethodName:     adminRead,
	v1.UserService_GetUser_FullMethodName:       adminRead,
	v1.UserService_UpdateUser_FullMethodName:    administer,
	v1.UserService_DisableUser_FullMethodName:   administer,
	v1.UserService_EnableUser_FullMethodName:    administer,
	v1.UserService_ResetPassword_FullMethodName: administer,

	v1.ApiKeyService_CreateApiKey_FullMethodName: administer,
	v1.ApiKeyService_ListApiKeys_FullMethodName:  adminRead,
	v1.ApiKeyService_GetApiKey_FullMethodName:    adminRead,
	v1.ApiKeyService_RevokeApiKey_FullMethodName: administer,

	v1.AuditService_ListAuditRecords_FullMethodName: adminRead,

	// Webhooks send every event (and hold secrets): admins only, like keys.
	v1.WebhookService_CreateWebhook_FullMethodName:         administer,
	v1.WebhookService_ListWebhooks_FullMethodName:          adminRead,
	v1.WebhookService_GetWebhook_FullMethodName:            adminRead,
	v1.WebhookService_UpdateWebhook_FullMethodName:         administer,
	v1.WebhookService_DeleteWebhook_FullMethodName:         administer,
	v1.WebhookService_ListWebhookDeliveries_FullMethodName: adminRead,

	// A viewer may watch everything it may read.
	v1.EventService_StreamEvents_FullMethodName: read,

	v1.StationService_CreateStation_FullMethodName:  operate,
	v1.StationService_ListStations_FullMethodName:   read,
	v1.StationService_GetStation_FullMethodName:     read,
	v1.StationService_UpdateStation_FullMethodName:  operate,
	v1.StationService_DeleteStation_FullMethodName:  operate,
	v1.StationService_AcceptStation_FullMethodName:  operate,
	v1.StationService_RejectStation_FullMethodName:  operate,
	v1.StationService_BlockStation_FullMethodName:   operate,
	v1.StationService_UnblockStation_FullMethodName: operate,

	v1.IdTokenService_CreateIdToken_FullMethodName: operate,
	v1.IdTokenService_ListIdTokens_FullMethodName:  read,
	v1.IdTokenService_GetIdToken_FullMethodName:    read,
	v1.IdTokenService_UpdateIdToken_FullMethodName: operate,
	v1.IdTokenService_DeleteIdToken_FullMethodName: operate,

	v1.TariffService_PutTariff_FullMethodName:    operate,
	v1.TariffService_ListTariffs_FullMethodName:  read,
	v1.TariffService_DeleteTariff_FullMethodName: operate,

	v1.TransactionService_ListTransactions_FullMethodName: read,
	v1.TransactionService_GetTransaction_FullMethodName:   read,

	v1.CommandService_Call_FullMethodName:         operate,
	v1.CommandService_ListCommands_FullMethodName: read,
	v1.CommandService_ListMessages_FullMethodName: read,

	v1.RemoteControlService_RemoteStart_FullMethodName:          operate,
	v1.RemoteControlService_RemoteStop_FullMethodName:           operate,
	v1.RemoteControlService_Reset_FullMethodName:                operate,
	v1.RemoteControlService_ChangeAvailability_FullMethodName:   operate,
	v1.RemoteControlService_UnlockConnector_FullMethodName:      operate,
	v1.RemoteControlService_TriggerMessage_FullMethodName:       operate,
	v1.RemoteControlService_ClearCache_FullMethodName:           operate,
	v1.RemoteControlService_DataTransfer_FullMethodName:         operate,
	v1.RemoteControlService_GetTransactionStatus_FullMethodName: operate,
	v1.RemoteControlService_CostUpdated_FullMethodName:          operate,

	// Commands that ask a charger for something still send it a CALL.
	v1.ConfigurationService_GetConfiguration_FullMethodName:       operate,
	v1.ConfigurationService_ChangeConfiguration_FullMethodName:    operate,
	v1.ConfigurationService_GetStoredConfiguration_FullMethodName: read,
	v1.ConfigurationService_GetVariables_FullMethodName:           operate,
	v1.ConfigurationService_SetVariables_FullMethodName:           operate,
	v1.ConfigurationService_GetBaseReport_FullMethodName:          operate,
	v1.ConfigurationService_GetDeviceModel_FullMethodName:         read,
	v1.ConfigurationService_SetNetworkProfile_FullMethodName:      operate,
	v1.ConfigurationService_ListNetworkProfiles_FullMethodName:    read,

	v1.FirmwareService_UpdateFirmware_FullMethodName:    operate,
	v1.FirmwareService_GetLog_FullMethodName:            operate,
	v1.FirmwareService_PublishFirmware_FullMethodName:   operate,
	v1.FirmwareService_UnpublishFirmware_FullMethodName: operate,
	v1.FirmwareService_ListStatusReports_FullMethodName: read,

	v1.MonitoringService_SetVariableMonitoring_FullMethodName:   operate,
	v1.MonitoringService_ClearVariableMonitoring_FullMethodName: operate,
	v1.MonitoringService_SetMonitoringBase_FullMethodName:       operate,
	v1.MonitoringService_SetMonitoringLevel_FullMethodName:      operate,
	v1.MonitoringService_GetMonitoringReport_FullMethodName:     operate,
	v1.MonitoringService_ListMonitors_FullMethodName:            read,
	v1.MonitoringService_ListStationEvents_FullMethodName:       read,

	v1.DisplayMessageService_SetDisplayMessage_FullMethodName:   operate,
	v1.DisplayMessageService_GetDisplayMessages_FullMethodName:  operate,
	v1.DisplayMessageService_ClearDisplayMessage_FullMethodName: operate,
	v1.DisplayMessageService_ListDisplayMessages_FullMethodName: read,

	v1.DataTransferService_ListDataTransfers_FullMethodName: read,

	// A customer's data is personal: reading what a request returned
	// takes the same role as asking for it.
	v1.CustomerInformationService_CustomerInformation_FullMethodName:     operate,
	v1.CustomerInformationService_GetCustomerInformation_FullMethodName:  operatorRead,
	v1.CustomerInformationService_ListCustomerInformation_FullMethodName: operatorRead,

	v1.ReservationService_ReserveNow_FullMethodName:        operate,
	v1.ReservationService_CancelReservation_FullMethodName: operate,
	v1.ReservationService_ListReservations_FullMethodName:  read,

	v1.LocalListService_GetLocalListVersion_FullMethodName: operate,
	v1.LocalListService_SendLocalList_FullMethodName:       operate,

	v1.SmartChargingService_SetChargingProfile_FullMethodName:   operate,
	v1.SmartChargingService_ClearChargingProfile_FullMethodName: operate,
	v1.SmartChargingService_GetCompositeSchedule_FullMethodName: operate,
	v1.SmartChargingService_GetChargingProfiles_FullMethodName:  operate,
	v1.SmartChargingService_ListChargingProfiles_FullMethodName: read,
	v1.SmartChargingService_GetChargingState_FullMethodName:     read,

	// The CA certificate is public data, and so are issued certificates;
	// viewers may read both.
	v1.CertificateService_GetCertificateAuthority_FullMethodName:   read,
	v1.CertificateService_ListIssuedCertificates_FullMethodName:    read,
	v1.CertificateService_ListInstalledCertificates_FullMethodName: read,
	// Certificate commands change what a station trusts or holds.
	v1.CertificateService_GetInstalledCertificateIds_FullMethodName: operate,
	v1.CertificateService_InstallCertificate_FullMethodName:         operate,
	v1.CertificateService_DeleteCertificate_FullMethodName:          operate,
	v1.CertificateService_RenewCertificate_FullMethodName:           operate,
	v1.CertificateService_SendCertificateSigned_FullMethodName:      operate,
	// Changing a station's password is an operator's job, like setting it.
	v1.ConfigurationService_RotatePassword_FullMethodName: operate,

	v1.SecurityEventService_ListStationSecurityEvents_FullMethodName: read,
	v1.SecurityEventService_ListSecurityEvents_FullMethodName:        read,
}

// Lookup returns the policy of a full gRPC method name ("/pkg.Service/Method").
func Lookup(fullMethod string) (Policy, bool) {
	p, ok := Policies[fullMethod]
	return p, ok
}
