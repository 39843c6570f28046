public import Foundation
public import Logging
public import StewardCore
public import StewardHTTP
public import StewardPermissions
public import StewardTelemetry

extension Steward {
    /// Everything ``Steward/start(_:)`` needs. Only the app id and the manifest are required;
    /// every other setting has a default that works on an embedded device with no setup:
    /// data under `$XDG_DATA_HOME/steward/APP-ID`, the vault key in the store the environment
    /// offers (a systemd credential, the desktop keyring, else a 0600 file beside the vault),
    /// prompts on the terminal. Without a transport, DSN or endpoint for a recipient, its
    /// payloads stay queued in the vault, encrypted, until one is configured (or they expire);
    /// nothing is written in plaintext unless the host asks for a ``plaintextOutbox``.
    ///
    /// ```swift
    /// var configuration = Steward.Configuration(appID: "org.example.scanner", manifest: manifest)
    /// configuration.otlpEndpoint = URL(string: "https://collector.example.com:4318")
    /// configuration.sentryDSN = "https://public@sentry.example.com/42"
    /// configuration.prompter = MyPrompter()
    /// let steward = try Steward.start(configuration)
    /// ```
    public struct Configuration: Sendable {
        /// The application id, reverse-DNS (`org.example.scanner`): names the data folder and
        /// scopes the device identifiers.
        public var appID: String
        /// The privacy manifest the SDK enforces and discloses.
        public var manifest: PrivacyManifest
        /// The data folder; nil for `$XDG_DATA_HOME/steward/APP-ID` (else
        /// `~/.local/share/steward/APP-ID`).
        public var dataDirectory: String?
        /// The modules the app uses (default: all). The manifest need declare only what these
        /// store: `[.crash]` alone takes a manifest of one purpose, one category and one
        /// recipient (`steward manifest init --modules crash` writes one). A module left out is
        /// inert: no crash handlers and no pending records without `.crash`; no installation
        /// or advertising id made for the export without `.device`; telemetry records nothing
        /// without declared events. Its accessor still answers (``Steward/telemetry`` and the
        /// rest are always there), so code shared between apps needs no branches.
        public var modules: Set<Disclosure.Module>
        /// Where the vault key comes from; nil (the default) lets Steward choose per data folder
        /// (`KeyStore.choose`): the store recorded for the folder, else key files for a vault
        /// that already has them, else a systemd credential (``keyCredentialName`` in
        /// `$CREDENTIALS_DIRECTORY`) for a service, the desktop keyring (Secret Service) for a
        /// desktop session, or a `FileKeyProvider` over `DATA/keys` (a 0600 file in a 0700
        /// folder). The choice is recorded in the folder and kept; ``Steward/keyStore`` says
        /// which it is. A provider set here always wins (a TPM, an HSM, your own keyring).
        public var keyProvider: (any KeyProvider)?
        /// The environment the key store is chosen from (default: the process's):
        /// `CREDENTIALS_DIRECTORY`, `DBUS_SESSION_BUS_ADDRESS` and `XDG_RUNTIME_DIR`. Set `[:]`
        /// to keep a new data folder's key in files whatever the machine offers. libsecret
        /// reaches the keyring over the bus of the process's own environment.
        public var keyStoreEnvironment: [String: String]
        /// The systemd credential that wraps the vault key of a service (default
        /// `steward.vault-key`; see `SystemdCredentialKeyProvider`). Used when a new data folder
        /// chooses its store; a folder keeps the credential it recorded.
        public var keyCredentialName: String
        /// Transports chosen by the host, per recipient. They win over ``sentryDSN`` and
        /// ``otlpEndpoint``; recipients with neither deliver to the ``plaintextOutbox`` when
        /// one is set, else their payloads stay queued in the vault.
        public var transports: [RecipientID: any Transport]
        /// A Sentry (or GlitchTip) DSN: crash reports go there over HTTPS.
        public var sentryDSN: String?
        /// An OpenTelemetry Collector's OTLP/HTTP base URL (`https://host:4318`): telemetry goes
        /// to its `/v1/logs` and `/v1/metrics`. Nil: the `OTEL_EXPORTER_OTLP_ENDPOINT` (or
        /// per-signal) variable of ``otelEnvironment``, if set.
        public var otlpEndpoint: URL?
        /// Header fields for the collector only (an `Authorization` token, an API key), over the
        /// `OTEL_EXPORTER_OTLP_HEADERS` of ``otelEnvironment``. Secrets: sent only in requests to
        /// the collector, never shown (see `HTTPTransport.Configuration.headers`). Headers for
        /// every HTTPS transport, the crash recipient's too, go in ``http``.
        public var otlpHeaders: [String: String]
        /// The environment the OpenTelemetry exporter variables are read from (default: the
        /// process's). `OTEL_EXPORTER_OTLP_ENDPOINT` and its per-signal forms, `_HEADERS`,
        /// `_TIMEOUT`, `_COMPRESSION`, `_CERTIFICATE`, `_CLIENT_KEY`, `_CLIENT_CERTIFICATE`,
        /// `_PROTOCOL` (only `http/json`), `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`
        /// (identifying attributes refused) are honoured as the OpenTelemetry specification
        /// says; what is set in code wins. A bad value is a start error. Set `[:]` to ignore the
        /// environment. See Backends.md.
        public var otelEnvironment: [String: String]
        /// A folder that receives, **in plaintext**, the payloads of recipients that have no
        /// transport, DSN or endpoint: each body exactly as it would be sent, for a separate
        /// shipper (a cron job, a fleet agent, a USB export) to forward. Nil by default: those
        /// payloads then stay queued in the vault, encrypted.
        ///
        /// Asking for it takes that data out of the vault's protection: the files are private
        /// to the user (0700 folder, 0600 files) but not encrypted. Steward still keeps its
        /// promises about them: a payload is written only once its purpose is granted, a
        /// withdrawal (or the age gate) removes the files of that purpose, the access report
        /// counts them, erase removes them, and a sidecar never holds a secret header
        /// (`X-Sentry-Auth`, `Authorization`, cookies, tokens). See `FileTransport`.
        public var plaintextOutbox: PlaintextOutbox?
        /// Trust, pinning, proxies, compression and timeouts of the HTTPS transports made from
        /// ``sentryDSN`` and ``otlpEndpoint``.
        public var http: HTTPTransport.Configuration
        /// The recipient crash reports go to (default `crashBackend`, as the example manifest
        /// declares it). Crash delivery is off when the manifest does not declare it.
        public var crashRecipient: RecipientID
        /// The recipient telemetry goes to (default `telemetryBackend`). Telemetry delivery is
        /// off when the manifest does not declare it.
        public var telemetryRecipient: RecipientID
        /// Asks the user for permissions (default: the terminal, `/dev/tty`).
        public var prompter: any PermissionPrompter
        /// Checks what the operating system allows (default: `LinuxPermissionProbe`).
        public var permissionProbe: any PermissionProbing
        /// Timestamps (consent receipts, records, retention). A date it returns that is NaN or
        /// infinite is replaced by the system's, and one outside years 0001–9999 is clamped to
        /// them (telemetry times to 1970…2554-07-21): a broken clock never traps Steward.
        public var wallClock: any WallClock
        /// The user's jurisdiction, for the age gate (nil: the manifest's strictest rule).
        public var jurisdiction: Jurisdiction?
        /// The app's version, carried by crash reports (`release`) and telemetry
        /// (`service.version`).
        public var release: String?
        /// The deployment environment crash reports carry (Sentry's `environment`; default
        /// `production`).
        public var environment: String?
        /// The release's distribution crash reports carry (Sentry's `dist`: a build number).
        public var dist: String?
        /// The fraction of crash reports sent, 0…1 (default 1); see
        /// `CrashReporter.Configuration.sampleRate`. Outside 0…1, or NaN, is a start error.
        public var crashSampleRate: Double
        /// Sees each crash report before it is queued: return it (redacted as the host wishes)
        /// or nil to drop it (counted as `filtered`). See
        /// `CrashReporter.Configuration.beforeQueueing`.
        public var beforeQueueingCrashReport: (@Sendable (CrashReport) -> CrashReport?)?
        /// Whether ``Steward/start(_:)`` installs the crash handlers (default true). Pending
        /// crash records are processed either way.
        public var installsCrashHandler: Bool
        /// Whether a Swift trap's crash report says the runtime's message (`fatalError`'s text,
        /// "Index out of range", …), scrubbed like every text (default true). See
        /// `CrashReporter.Configuration.capturesFatalErrorMessages`.
        public var capturesFatalErrorMessages: Bool
        /// Telemetry tunables (mode, batch size, memory limit, sampling, rate limits); the
        /// permission checks are always the started instance's permission gate.
        public var telemetry: Telemetry.Configuration
        /// The pending policy per purpose: what happens to data recorded before the user
        /// answered.
        public var pendingPolicies: [Purpose: PendingPolicy]
        /// The pending policy of purposes not in ``pendingPolicies`` (default: kept encrypted
        /// on disk for 7 days).
        public var defaultPendingPolicy: PendingPolicy
        /// How deliveries back off and when they give up.
        public var uploadPolicy: UploadPolicy
        /// Where Steward says what it does and why (a batch sent, a retry scheduled, a purpose
        /// pending, a record quarantined), through swift-log; nil (the default): nothing is
        /// logged. Messages are fixed sentences and metadata holds only Steward's own names
        /// (recipients, purposes, categories), counts and durations: never personal data, a
        /// payload, an identifier or a header value. See `StewardDiagnostics`.
        public var logger: Logger?
        /// How Steward delivers on its own once started (default: on, queueing every 30 s);
        /// nil: only when the host calls ``Steward/send(timeout:)``.
        public var automaticDelivery: AutomaticDelivery?
        /// Whether delivery pauses while a recipient cannot be reached (default true): Steward
        /// then learns link, address and route changes from the kernel (a netlink socket and one
        /// thread asleep on it, no polling), sends nothing while the device is offline or the
        /// link to an endpoint is down (no attempt is counted, nothing is dropped), and resumes
        /// when the kernel reports the network back. ``Steward/send(timeout:)`` then reports
        /// what waits in `awaitingNetwork`. False: every send is tried, and fails, offline.
        public var pausesWhileOffline: Bool
        /// The machine ID the device identifiers derive from.
        public var machineIDPath: String

        /// A configuration with the defaults above.
        public init(
            appID: String, manifest: PrivacyManifest, dataDirectory: String? = nil,
            prompter: any PermissionPrompter = TerminalPrompter()
        ) {
            self.appID = appID
            self.manifest = manifest
            self.dataDirectory = dataDirectory
            self.keyProvider = nil
            self.keyStoreEnvironment = ProcessInfo.processInfo.environment
            self.keyCredentialName = SystemdCredentialKeyProvider.defaultCredentialName
            self.modules = Set(Disclosure.Module.allCases)
            self.transports = [:]
            self.sentryDSN = nil
            self.otlpEndpoint = nil
            self.otlpHeaders = [:]
            self.otelEnvironment = ProcessInfo.processInfo.environment
            self.plaintextOutbox = nil
            self.http = HTTPTransport.Configuration()
            self.crashRecipient = "crashBackend"
            self.telemetryRecipient = "telemetryBackend"
            self.prompter = prompter
            self.permissionProbe = LinuxPermissionProbe()
            self.wallClock = SystemWallClock()
            self.jurisdiction = nil
            self.release = nil
            self.environment = nil
            self.dist = nil
            self.crashSampleRate = 1
            self.beforeQueueingCrashReport = nil
            self.installsCrashHandler = true
            self.capturesFatalErrorMessages = true
            self.telemetry = Telemetry.Configuration()
            self.pendingPolicies = [:]
            self.defaultPendingPolicy = .encryptedDisk(maxAge: .seconds(7 * 86_400))
            self.uploadPolicy = UploadPolicy()
            self.automaticDelivery = AutomaticDelivery()
            self.pausesWhileOffline = true
            self.logger = nil
            self.machineIDPath = "/etc/machine-id"
        }
    }
}

extension Steward {
    /// Where ``Configuration/plaintextOutbox`` writes: a folder outside the vault's protection.
    public enum PlaintextOutbox: Hashable, Sendable {
        /// `DATA/outbox`, inside the data folder.
        case inDataDirectory
        /// A folder of the host's choice (created 0700 when missing; it must not be a link,
        /// belong to someone else or be readable by others).
        case directory(String)

        /// The folder's path for the data folder `dataDirectory`.
        func path(dataDirectory: String) -> String {
            switch self {
            case .inDataDirectory: dataDirectory + "/outbox"
            case .directory(let path): path
            }
        }
    }
}

/// Why ``Steward/start(_:)`` or a data-rights request failed.
///
/// When start fails, Steward holds nothing open and has collected nothing: the host runs on
/// without it (no telemetry, no crash reports) and may try again later. ``underlying`` keeps
/// the typed error that caused a ``Code/startFailed`` or ``Code/exportFailed``, so a host can
/// tell the causes apart:
///
/// ```swift
/// do {
///     steward = try Steward.start(configuration)
/// } catch {
///     switch error.underlying {
///     case let vault as VaultError where vault.code == .locked: break      // another process owns the folder
///     case let vault as VaultError where vault.code == .keyMismatch: break // the key changed: erase or restore it
///     case is KeyProviderError: break                                       // the key file or keyring refused
///     default: break                                                        // see error.problems
///     }
///     steward = nil                                                         // run without Steward
/// }
/// ```
public struct StewardError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String { case invalidConfiguration, alreadyStarted, startFailed, stopped, exportFailed }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// The configuration has problems: ``StewardError/problems`` lists every one.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// Steward runs already in this process: one instance per process (signal handlers are
        /// process-wide). Stop it first.
        public static let alreadyStarted = Code(.alreadyStarted)
        /// Opening the data failed (a locked or damaged vault, an unusable folder).
        public static let startFailed = Code(.startFailed)
        /// The instance was stopped (or erased): start a new one.
        public static let stopped = Code(.stopped)
        /// An export could not be written.
        public static let exportFailed = Code(.exportFailed)
        /// The code's name.
        public var description: String { value.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// Every problem found, each a sentence naming what to fix.
    public let problems: [String]
    /// The typed error that caused it, when one did (a `VaultError`, a `KeyProviderError`,
    /// a `ConsentError`, a `ManifestError`, a `CrashReporterError`, a
    /// `SystemError`...). Not part of equality: two errors with the same code and problems
    /// are equal.
    public let underlying: (any Error)?

    /// An error with `problems`, and the typed error that caused it.
    public init(_ code: Code, problems: [String], underlying: (any Error)? = nil) {
        self.code = code
        self.problems = problems
        self.underlying = underlying
    }

    /// Equal when the code and the problems are (``underlying`` is not compared).
    public static func == (lhs: StewardError, rhs: StewardError) -> Bool {
        lhs.code == rhs.code && lhs.problems == rhs.problems
    }

    /// Hashes what equality compares.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(problems)
    }

    /// The code and every problem, one per line.
    public var description: String {
        switch problems.count {
        case 0: "Steward: \(code)"
        case 1: "Steward: \(code): \(problems[0])"
        default:
            "Steward: \(code), \(problems.count) problems:\n" + problems.map { "  - " + $0 }.joined(separator: "\n")
        }
    }
}

extension Steward {
    /// Delivery without the host's help: after ``Steward/start(_:)``, every uploader sends what
    /// is queued as soon as it is queued (one request at a time per recipient, consent checked
    /// at send time, with backoff and `Retry-After`), and what telemetry, metrics and the crash
    /// reporter hold is queued for them every ``interval``, once at start (so crash reports
    /// from an earlier run go at once) and as soon as a full telemetry batch is stored (at most
    /// once a second). ``Steward/shutdown(within:)`` and ``Steward/stop()``
    /// end it.
    ///
    /// ``Steward/send(timeout:)`` still queues and drains at once; payloads the background
    /// delivery sent are not in its report. A per-recipient hourly byte budget (a metered link)
    /// is `uploadPolicy.maxBytesPerHour`.
    public struct AutomaticDelivery: Hashable, Sendable {
        /// How often held data is queued (default 30 s). Clamped to 1 s…2^31 s, so any
        /// duration is safe.
        public var interval: Duration

        /// Automatic delivery, queueing every `interval`.
        public init(interval: Duration = .seconds(30)) {
            self.interval = interval
        }
    }
}

extension Steward.Configuration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The settings without their secrets: header values (``otlpHeaders``, ``http``), the
    /// environment's values (only how many variables there are) and the DSN (only whether one
    /// is set) are not shown.
    public var description: String {
        let headers = otlpHeaders.keys.sorted().map { "\($0): <redacted>" }.joined(separator: ", ")
        return
            "Steward.Configuration(appID: \(appID), dataDirectory: \(dataDirectory ?? "default"), modules: \(modules.map(\.rawValue).sorted()), sentryDSN: \(sentryDSN == nil ? "nil" : "<set>"), otlpEndpoint: \(otlpEndpoint.map { "\($0.scheme ?? "")://\($0.host ?? "")" } ?? "nil"), otlpHeaders: [\(headers)], otelEnvironment: \(otelEnvironment.count) variables, http: \(http), automaticDelivery: \(automaticDelivery.map { "\($0.interval)" } ?? "off"), release: \(release ?? "nil"))"
    }

    /// The same as ``description``.
    public var debugDescription: String { description }

    /// A mirror without the secrets, for `dump` and debuggers.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "appID": appID, "dataDirectory": dataDirectory as Any, "modules": modules,
                "sentryDSN": sentryDSN == nil ? "nil" : "<set>",
                // Scheme and host only: a URL set in code may carry credentials or a token.
                "otlpEndpoint": otlpEndpoint.map { "\($0.scheme ?? "")://\($0.host ?? "")" } as Any,
                "otlpHeaders": otlpHeaders.mapValues { _ in "<redacted>" },
                "otelEnvironment": "\(otelEnvironment.count) variables", "http": http,
                "automaticDelivery": automaticDelivery as Any, "pausesWhileOffline": pausesWhileOffline,
                "release": release as Any,
            ])
    }
}
