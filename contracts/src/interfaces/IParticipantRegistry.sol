// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IParticipantRegistry
/// @notice Who may act in the supply chain: organisations with a signing key, roles, an
/// identifier prefix and a status, and the history of all three so that anyone can ask
/// "was this key an active PRODUCER at block N?". And who may speak for an identifier: the
/// root authority (DEFAULT_ADMIN_ROLE) delegates prefix ranges to nodes' registrars, which
/// license prefixes inside them to their participants, with history; licences never overlap.
/// @dev Roles are a bit set (see {Roles}). A participant
/// is named by a stable `uint32` id; its key may be rotated, its id never changes, so custody
/// held by an organisation survives a key rotation.
interface IParticipantRegistry {
    /// @notice A participant as the registry keeps it.
    struct Participant {
        uint32 id;
        address key;
        uint8 roles;
        bool active;
        string name;
        string prefix;
    }

    /// @notice Validity of one signing key: it belongs to `participantId` from block `validFrom`
    /// and, once rotated out, until the block before `validUntil` (zero while it is current).
    struct KeyRecord {
        uint32 participantId;
        uint48 validFrom;
        uint48 validUntil;
    }

    /// @dev The zero address cannot be a participant key.
    error ParticipantRegistryZeroAddress();
    /// @dev `key` is, or was, already registered to a participant; keys are never reused.
    error ParticipantRegistryKeyInUse(address key);
    /// @dev No participant has the id `id`.
    error ParticipantRegistryUnknownParticipant(uint32 id);
    /// @dev `roles` is empty or holds bits that name no role.
    error ParticipantRegistryInvalidRoles(uint8 roles);
    /// @dev The name is empty or longer than the registry allows.
    error ParticipantRegistryInvalidName(uint256 length);
    /// @dev `prefix` is not a well-formed prefix of `kind` (see {Identifiers-isValidPrefix}).
    error ParticipantRegistryInvalidPrefix(uint8 kind, string prefix);
    /// @dev A held licence is `prefix`, contains it, or lies inside it: licences never overlap.
    error ParticipantRegistryPrefixOverlap(uint8 kind, string prefix);
    /// @dev A delegated range is `prefix`, contains it, or lies inside it: ranges never overlap.
    error ParticipantRegistryRangeOverlap(uint8 kind, string prefix);
    /// @dev `registrar` holds no range containing `prefix`.
    error ParticipantRegistryOutsideRange(address registrar, uint8 kind, string prefix);
    /// @dev No licence of `prefix` is held (nothing to revoke).
    error ParticipantRegistryNotLicensed(uint8 kind, string prefix);
    /// @dev `prefix` is not a delegated range (nothing to withdraw).
    error ParticipantRegistryNotDelegated(uint8 kind, string prefix);
    /// @dev `caller` is neither the root authority nor the registrar that granted the licence.
    error ParticipantRegistryUnauthorizedRevocation(address caller);
    /// @dev A licence must start at this block or later and end after it starts (0: no end).
    error ParticipantRegistryInvalidValidity(uint48 validFrom, uint48 validUntil);
    /// @dev `registrar` already operates a node (one node per registrar).
    error ParticipantRegistryNodeExists(address registrar);
    /// @dev No node has the id `id`.
    error ParticipantRegistryUnknownNode(uint32 id);
    /// @dev `url` is not an http(s) URL of printable ASCII, of at most MAX_URL_LENGTH bytes.
    error ParticipantRegistryInvalidUrl(string url);
    /// @dev `caller` is neither the root authority nor the operator of node `id`.
    error ParticipantRegistryUnauthorizedNodeChange(uint32 id, address caller);
    /// @dev Participant `id` was registered by another node's registrar than `registrar`.
    error ParticipantRegistryForeignParticipant(uint32 id, address registrar);
    /// @dev The participant is already suspended.
    error ParticipantRegistryAlreadySuspended(uint32 id);
    /// @dev The participant is not suspended.
    error ParticipantRegistryNotSuspended(uint32 id);
    /// @dev `caller` is neither a registrar nor the current key of the active participant.
    error ParticipantRegistryUnauthorizedRotation(uint32 id, address caller);

    /// @notice One licence of a prefix: participant `holder` speaks for the identifiers under it at
    /// blocks `validFrom` to `validUntil - 1` (`validUntil` zero: no end). `held` until revoked:
    /// a held licence, even expired, keeps its prefix from being licensed again.
    struct Licence {
        uint32 holder;
        uint48 validFrom;
        uint48 validUntil;
        bool held;
    }

    /// @notice Who speaks for an identifier at a block, over every prefix split of it that
    /// {Identifiers-split} accepts (licences never overlap: at most one split has a licence
    /// valid, and at most one a licence held, at a block). `splits`: some split is valid;
    /// `open`: the identifier is of no prefix kind (no licence covers it); `valid`: the holder
    /// of the licence valid at the block ({licenceAt}); `held`: the holder of the licence held
    /// at the block, even expired (0: none).
    struct IdentifierHolders {
        bool splits;
        bool open;
        uint32 valid;
        uint32 held;
    }

    /// @notice A prefix range of `kind` (empty: the whole kind).
    struct Range {
        uint8 kind;
        string prefix;
    }

    /// @notice A node of the network: `operator` is its registrar (who registers its
    /// participants and licenses their prefixes), `url` where it answers (its API's base),
    /// `ranges` the prefix ranges delegated to that registrar.
    struct NetworkNode {
        uint32 id;
        address operator;
        string url;
        Range[] ranges;
    }

    /// @notice A participant was registered.
    event ParticipantRegistered(uint32 indexed id, address indexed key, uint8 roles, string name, string prefix);
    /// @notice A participant's roles were replaced by `roles`.
    event ParticipantRolesChanged(uint32 indexed id, uint8 roles);
    /// @notice A participant was suspended: its signatures are refused until it is reactivated.
    event ParticipantSuspended(uint32 indexed id);
    /// @notice A suspended participant was reactivated.
    event ParticipantReactivated(uint32 indexed id);
    /// @notice `newKey` took over from `oldKey`; signatures by `oldKey` are refused from now on.
    event KeyRotated(uint32 indexed id, address indexed oldKey, address indexed newKey);
    /// @notice The root authority delegated range `prefix` of `kind` to the node of `registrar`.
    event RangeDelegated(uint8 indexed kind, string prefix, address indexed registrar);
    /// @notice The root authority withdrew range `prefix` from `registrar` (its licences stand).
    event RangeWithdrawn(uint8 indexed kind, string prefix, address indexed registrar);
    /// @notice Participant `holder` was licensed `prefix` of `kind` for blocks `validFrom` to `validUntil - 1`.
    event PrefixLicensed(uint8 indexed kind, string prefix, uint32 indexed holder, uint48 validFrom, uint48 validUntil);
    /// @notice The licence of `prefix` held by `holder` was revoked; it is invalid from block `validUntil`.
    event PrefixRevoked(uint8 indexed kind, string prefix, uint32 indexed holder, uint48 validUntil);
    /// @notice The root authority allowed (or stopped allowing) the participants of `registrar`'s
    /// node to create batches whose identifiers are neither GS1 nor handles.
    event OpenIdentifiersSet(address indexed registrar, bool allowed);

    /// @notice The root authority registered node `id`, operated by registrar `operator`.
    event NodeRegistered(uint32 indexed id, address indexed operator, string url);
    /// @notice Node `id`'s public URL is now `url`.
    event NodeUrlChanged(uint32 indexed id, string url);

    /// @notice Registers a participant of the caller's node and returns its id. A non-empty
    /// `prefix` is licensed to it from this block on, as {license} would: a handle prefix when it
    /// holds a dot, a GS1 company prefix otherwise.
    /// Requirements: caller has REGISTRAR_ROLE; `key` is new and not zero; `roles` valid;
    /// `name` 1..64 bytes; `prefix` empty or licensable by the caller (see {license}).
    /// Emits: {ParticipantRegistered}, and {PrefixLicensed} for a prefix.
    function register(address key, string calldata name, uint8 roles, string calldata prefix)
        external
        returns (uint32 id);

    /// @notice Replaces a participant's roles.
    /// Requirements: caller has REGISTRAR_ROLE; the participant exists; `roles` valid.
    /// Emits: {ParticipantRolesChanged}.
    function setRoles(uint32 id, uint8 roles) external;

    /// @notice Suspends a participant.
    /// Requirements: caller has REGISTRAR_ROLE; the participant exists and is active.
    /// Emits: {ParticipantSuspended}.
    function suspend(uint32 id) external;

    /// @notice Reactivates a suspended participant.
    /// Requirements: caller has REGISTRAR_ROLE; the participant exists and is suspended.
    /// Emits: {ParticipantReactivated}.
    function reactivate(uint32 id) external;

    /// @notice Moves a participant to a new signing key; the old key is refused from this block on.
    /// Requirements: caller has REGISTRAR_ROLE, or is the current key of the participant while it
    /// is active (a suspended participant's key cannot rotate itself); `newKey` new and not zero.
    /// Emits: {KeyRotated}.
    function rotateKey(uint32 id, address newKey) external;

    /// @notice The participant with id `id` (reverts when unknown).
    function participant(uint32 id) external view returns (Participant memory);

    /// @notice How many participants were ever registered (ids run from 1 to this number).
    function participantCount() external view returns (uint32);

    /// @notice The validity record of `key` (all zero when it was never registered).
    function keyRecord(address key) external view returns (KeyRecord memory);

    /// @notice The participant that `key` signs for now, with its current roles and status.
    /// @return id zero when `key` is unknown or was rotated out.
    function authorize(address key) external view returns (uint32 id, uint8 roles, bool active);

    /// @notice The participant's roles and status as they stood at the end of block `blockNumber`.
    function statusAt(uint32 id, uint48 blockNumber) external view returns (uint8 roles, bool active);

    /// @notice Whether `key` was, at the end of block `blockNumber`, the valid key of an active
    /// participant holding every role in `roles`.
    function wasAuthorized(address key, uint8 roles, uint48 blockNumber) external view returns (bool);

    /// @notice The participant holding a licence of `prefix` (kind as {register} reads it; zero when none).
    function prefixOwner(string calldata prefix) external view returns (uint32);

    /// @notice Delegates range `prefix` of `kind` to the node of `registrar`, whose registrar may
    /// then license prefixes inside it. The empty prefix is the whole kind.
    /// Requirements: caller has DEFAULT_ADMIN_ROLE; `registrar` not zero; `prefix` a valid range;
    /// no delegated range is `prefix`, contains it or lies inside it.
    /// Emits: {RangeDelegated}.
    function delegate(address registrar, uint8 kind, string calldata prefix) external;

    /// @notice Withdraws range `prefix` of `kind`; licences granted inside it stand until revoked.
    /// Requirements: caller has DEFAULT_ADMIN_ROLE; `prefix` is a delegated range.
    /// Emits: {RangeWithdrawn}.
    function withdraw(uint8 kind, string calldata prefix) external;

    /// @notice Licenses `prefix` of `kind` to participant `id` for blocks `validFrom` (zero: this
    /// block) to `validUntil - 1` (`validUntil` zero: no end).
    /// Requirements: caller has REGISTRAR_ROLE and registered `id`; `prefix` a valid licence prefix
    /// inside a range delegated to the caller; no held licence is `prefix`, contains it or lies
    /// inside it; `validFrom` not before this block; `validUntil` zero or after `validFrom`.
    /// Emits: {PrefixLicensed}.
    function license(uint32 id, uint8 kind, string calldata prefix, uint48 validFrom, uint48 validUntil) external;

    /// @notice Revokes the held licence of `prefix`: invalid from this block on (or from its end, if
    /// earlier), and the prefix may be licensed again.
    /// Requirements: caller has DEFAULT_ADMIN_ROLE or is the registrar that granted the licence;
    /// a licence of `prefix` is held.
    /// Emits: {PrefixRevoked}.
    function revoke(uint8 kind, string calldata prefix) external;

    /// @notice Allows, or stops allowing, the participants of `registrar`'s node to create
    /// batches whose identifiers are neither GS1 nor handles (such batches are labelled by
    /// {IBatchRegistry-BatchIdentifierOpen}).
    /// Requirements: caller has DEFAULT_ADMIN_ROLE.
    /// Emits: {OpenIdentifiersSet}.
    function setOpenIdentifiers(address registrar, bool allowed) external;

    /// @notice The latest licence of the prefix stored under `prefixKey` ({Identifiers-key}); all
    /// zero when it was never licensed. What {IBatchRegistry} checks a new batch against.
    function currentLicence(bytes32 prefixKey) external view returns (Licence memory);

    /// @notice The licences of `prefix` of `kind`, oldest first.
    function licences(uint8 kind, string calldata prefix) external view returns (Licence[] memory);

    /// @notice The licence of `prefix` valid at block `blockNumber` (all zero when none was).
    function licenceAt(uint8 kind, string calldata prefix, uint48 blockNumber) external view returns (Licence memory);

    /// @notice Who speaks for `identifier` at block `blockNumber`, whichever split of it a
    /// licence is of (see {IdentifierHolders}): the one definition BatchRegistry (adoption, at
    /// the current block) and CustodyChallenge (at a window's anchor block) judge by. At the
    /// current block or later `held` is the holder of the current, unrevoked licence (valid
    /// yet or not). At an earlier block a licence counts as held from its `validFrom` (the
    /// block it was granted in is not recorded, and is no later) until it was revoked (or,
    /// when it was revoked after it expired, until its `validUntil`).
    function identifierHolders(bytes calldata identifier, uint48 blockNumber)
        external
        view
        returns (IdentifierHolders memory holders);

    /// @notice The registrar holding range `prefix` of `kind` (zero when it is not delegated).
    function rangeHolder(uint8 kind, string calldata prefix) external view returns (address);

    /// @notice The registrar that registered participant `id`: the node it belongs to.
    function registrarOf(uint32 id) external view returns (address);

    /// @notice Whether participant `id`'s node may create batches with identifiers that are
    /// neither GS1 nor handles.
    function openIdentifiers(uint32 id) external view returns (bool);

    // ----- the node registry -----

    /// @notice Registers the node operated by `registrar` at `url` and returns its id (from 1);
    /// `registrar` receives REGISTRAR_ROLE. Ranges are delegated to the registrar with {delegate},
    /// before or after.
    /// Requirements: caller has DEFAULT_ADMIN_ROLE; `registrar` not zero and operating no node;
    /// `url` valid (see {ParticipantRegistryInvalidUrl}).
    /// Emits: {NodeRegistered}.
    function registerNode(address registrar, string calldata url) external returns (uint32 id);

    /// @notice Moves node `id` to `url`.
    /// Requirements: caller is the node's operator or has DEFAULT_ADMIN_ROLE; `url` valid.
    /// Emits: {NodeUrlChanged}.
    function setNodeUrl(uint32 id, string calldata url) external;

    /// @notice Node `id` with its ranges (reverts when unknown).
    function node(uint32 id) external view returns (NetworkNode memory);

    /// @notice How many nodes were ever registered (ids run from 1 to this number).
    function nodeCount() external view returns (uint32);

    /// @notice The id of the node `registrar` operates (zero when none).
    function nodeOf(address registrar) external view returns (uint32);

    /// @notice The ranges delegated to `registrar` now, in no particular order.
    function rangesOf(address registrar) external view returns (Range[] memory);
}
