// The facade re-exports every Steward module a host app uses, so `import Steward` is the only
// Steward import an app needs. Foundation is not re-exported: an app that uses `URL` or `Date`
// imports Foundation itself.
@_exported public import StewardCore
@_exported public import StewardDevice
@_exported public import StewardPermissions
@_exported public import StewardCrash
@_exported public import StewardTelemetry
@_exported public import StewardHTTP
@_exported public import StewardMedia
