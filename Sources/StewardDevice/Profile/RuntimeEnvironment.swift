/// A kind of sandbox or virtualisation the process runs in, with the evidence found.
///
/// Detection is by well-known markers only, never by probing: a container by `/.dockerenv`,
/// `/run/.containerenv`, the `container` variable or hints in `/proc/1/cgroup`; Flatpak by
/// `/.flatpak-info` or `FLATPAK_ID`; Snap by `SNAP`; a virtual machine by a hypervisor vendor
/// in DMI or the `hypervisor` CPU flag. Several may hold at once (a container in a VM).
public struct RuntimeEnvironment: Codable, Sendable, Hashable {
    /// What kind of environment this is.
    public enum Kind: String, Codable, Sendable, Hashable, CaseIterable {
        /// A container (Docker, Podman, LXC, systemd-nspawn, Kubernetes...).
        case container
        /// A Flatpak sandbox.
        case flatpak
        /// A Snap confinement.
        case snap
        /// A virtual machine.
        case virtualMachine
    }

    /// What kind of environment this is.
    public var kind: Kind
    /// A name when the evidence gives one, such as `docker`, `podman` or `QEMU`.
    public var detail: String?
    /// The markers found: paths (`/.dockerenv`) or variables (`env:SNAP`).
    public var evidence: [String]

    /// Creates a runtime environment entry.
    public init(kind: Kind, detail: String? = nil, evidence: [String]) {
        self.kind = kind
        self.detail = detail
        self.evidence = evidence
    }

    /// Detects the environments the process runs in.
    ///
    /// - Parameters:
    ///   - files: Where to read marker files from.
    ///   - environment: The process environment.
    ///   - cpuinfo: `/proc/cpuinfo` if the caller already read it.
    /// - Returns: One entry per kind found, in the order of ``Kind``.
    public static func detect(
        files: SystemFiles, environment: [String: String],
        cpuinfo: Field<String>? = nil
    ) -> [RuntimeEnvironment] {
        var found: [RuntimeEnvironment] = []
        if let container = detectContainer(files, environment) { found.append(container) }

        var flatpak: [String] = []
        if files.exists("/.flatpak-info") { flatpak.append("/.flatpak-info") }
        if environment["FLATPAK_ID"] != nil { flatpak.append("env:FLATPAK_ID") }
        if !flatpak.isEmpty {
            found.append(RuntimeEnvironment(kind: .flatpak, detail: environment["FLATPAK_ID"], evidence: flatpak))
        }

        if environment["SNAP"] != nil {
            found.append(RuntimeEnvironment(kind: .snap, detail: environment["SNAP_NAME"], evidence: ["env:SNAP"]))
        }

        if let machine = detectVirtualMachine(files, cpuinfo: cpuinfo ?? files.text("/proc/cpuinfo")) {
            found.append(machine)
        }
        return found
    }

    private static func detectContainer(_ files: SystemFiles, _ environment: [String: String]) -> RuntimeEnvironment? {
        var evidence: [String] = []
        var detail: String?
        if files.exists("/.dockerenv") {
            evidence.append("/.dockerenv")
            detail = detail ?? "docker"
        }
        if files.exists("/run/.containerenv") {
            evidence.append("/run/.containerenv")
            detail = detail ?? "podman"
        }
        if let name = environment["container"], !name.isEmpty {
            evidence.append("env:container")
            detail = detail ?? name
        }
        if let cgroup = files.text("/proc/1/cgroup").value {
            let hints = [
                ("docker", "docker"), ("kubepods", "kubernetes"), ("libpod", "podman"),
                ("containerd", "containerd"), ("lxc", "lxc"),
            ]
            if let hint = hints.first(where: { cgroup.contains($0.0) }) {
                evidence.append("/proc/1/cgroup")
                detail = detail ?? hint.1
            }
        }
        return evidence.isEmpty ? nil : RuntimeEnvironment(kind: .container, detail: detail, evidence: evidence)
    }

    /// Hypervisor vendors as they appear in DMI `sys_vendor` or `product_name`.
    static let hypervisorNames: [(marker: String, name: String)] = [
        ("QEMU", "QEMU"), ("KVM", "KVM"), ("VMware", "VMware"), ("VirtualBox", "VirtualBox"),
        ("innotek", "VirtualBox"), ("Xen", "Xen"),
        ("Hyper-V", "Hyper-V"), ("Virtual Machine", "Hyper-V"), ("Amazon EC2", "Amazon EC2"),
        ("Google Compute Engine", "Google Compute Engine"), ("Firecracker", "Firecracker"),
    ]

    private static func detectVirtualMachine(_ files: SystemFiles, cpuinfo: Field<String>) -> RuntimeEnvironment? {
        var evidence: [String] = []
        var detail: String?
        for path in ["/sys/class/dmi/id/sys_vendor", "/sys/class/dmi/id/product_name"] {
            guard let value = files.attribute(path).value else { continue }
            let matches = hypervisorNames.filter { value.caseInsensitiveContains($0.marker) }
            if let match = matches.first {
                evidence.append(path)
                detail = detail ?? match.name
            }
        }
        if let text = cpuinfo.value {
            let hasFlag = text.split(separator: "\n").contains { line in
                line.hasPrefix("flags") && line.split(separator: " ").contains("hypervisor")
            }
            if hasFlag { evidence.append("/proc/cpuinfo:hypervisor") }
        }
        return evidence.isEmpty ? nil : RuntimeEnvironment(kind: .virtualMachine, detail: detail, evidence: evidence)
    }
}

extension String {
    /// Case-insensitive ASCII containment, without Foundation.
    func caseInsensitiveContains(_ other: String) -> Bool {
        lowercased().contains(other.lowercased())
    }
}
