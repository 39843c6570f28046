// The facade re-exports every module a host app uses, so `import Steward` is the only import
// an app needs to adopt the SDK.
@_exported public import StewardCore
@_exported public import StewardDevice
@_exported public import StewardPermissions
@_exported public import StewardCrash
@_exported public import StewardTelemetry
@_exported public import StewardHTTP
@_exported public import StewardMedia
