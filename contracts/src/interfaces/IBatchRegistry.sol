// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IBatchRegistry
/// @notice Batch lifecycle and custody, enforced from participants' EIP-712 signatures.
/// @dev Every operation is a {TraceEvent} signed by the acting participant's key under the
/// EIP-712 domain `{name: "TraceNode", version: "1", chainId, verifyingContract: this}`.
/// The event hash is the EIP-712 digest of the event. Each batch keeps the hash of its last
/// lifecycle event (its head); every lifecycle event names the head it extends, so the order
/// of a batch's events is fixed and a fork is refused. Observations (OBSERVE) and pallet events
/// (AGGREGATE, DISAGGREGATE) are signed with the same type and anchored by Merkle root, but
/// not executed here: they name the head they were made against without advancing it.
interface IBatchRegistry {
    /// @notice What an event does. Values are part of the signed data: never reorder.
    enum Action {
        NONE,
        COMMISSION,
        OBSERVE,
        SHIP,
        RECEIVE,
        TRANSFORM,
        AGGREGATE,
        DISAGGREGATE,
        RECALL,
        DESTROY
    }

    /// @notice Where a batch stands.
    enum Status {
        NONE,
        ACTIVE,
        IN_TRANSIT,
        CONSUMED,
        RECALLED,
        DESTROYED,
        EXPORTED
    }

    /// @notice The signed event. Field meanings by action:
    /// COMMISSION: `batchId` new, `prevEventHash` zero, `product`, `quantity` > 0; the batch's
    /// identifier under a prefix the signer is licensed (see {IdentifierProof}).
    /// SHIP: `counterparty` is the receiver's current key, or zero for a party outside the
    /// network (named in the payload): the batch is EXPORTED. RECEIVE, RECALL, DESTROY:
    /// `batchId`. A RECEIVE of a batch the network does not hold (never seen: with its
    /// {IdentifierProof}; or EXPORTED) adopts it: its history before lies outside.
    /// TRANSFORM: `batchId` and `prevEventHash` zero; `inputs` consumed (each naming its head in
    /// `inputPrevHashes`), `outputs` created with `product`; `quantity` is the total output.
    /// `eventTime` is milliseconds since the Unix epoch; `location` and `product` are hashes of
    /// their canonical identifiers; `payloadHash` commits to the off-chain details.
    struct TraceEvent {
        uint8 action;
        bytes32 batchId;
        bytes32 prevEventHash;
        bytes32[] inputs;
        bytes32[] inputPrevHashes;
        bytes32[] outputs;
        address counterparty;
        bytes32 product;
        uint256 quantity;
        uint64 eventTime;
        bytes32 location;
        bytes32 payloadHash;
        uint256 nonce;
    }

    /// @notice That a new batch's id derives from an identifier under a prefix:
    /// `keccak256(identifier)` is the batch id and its first `prefixLength` bytes after the head
    /// its kind fixes are the prefix (see {Identifiers-split}). Not signed: the signature covers
    /// the batch id, and the identifier is its preimage.
    struct IdentifierProof {
        bytes identifier;
        uint8 prefixLength;
    }

    /// @notice An event with its signer's secp256k1 signature, and for each batch it creates (the
    /// batch of a COMMISSION, the outputs of a TRANSFORM, in order) the proof of its identifier;
    /// empty for the other actions.
    struct SignedEvent {
        TraceEvent ev;
        uint8 v;
        bytes32 r;
        bytes32 s;
        IdentifierProof[] identifiers;
    }

    /// @notice A batch as the registry keeps it. Parties are participant ids, not keys, so
    /// custody survives key rotation. `receiver` is set while the batch is in transit.
    struct Batch {
        uint32 producer;
        uint32 custodian;
        uint32 receiver;
        Status status;
        bytes32 head;
    }

    /// @dev The action is not executed on-chain (NONE, OBSERVE, AGGREGATE, DISAGGREGATE or unknown).
    error BatchRegistryUnsupportedAction(uint8 action);
    /// @dev The signature is malformed or does not recover to a key.
    error BatchRegistryInvalidSignature(bytes32 eventHash);
    /// @dev The signer is not the current key of any participant.
    error BatchRegistryUnknownSigner(address signer);
    /// @dev The signer's participant is suspended.
    error BatchRegistrySignerSuspended(address signer);
    /// @dev The signer's participant lacks the role that `action` needs.
    error BatchRegistryMissingRole(address signer, uint8 action);
    /// @dev The signer already used `nonce`.
    error BatchRegistryNonceUsed(address signer, uint256 nonce);
    /// @dev A field that the action fixes has another value, or the lists are inconsistent.
    error BatchRegistryMalformedEvent(bytes32 eventHash);
    /// @dev A batch with this id already exists.
    error BatchRegistryBatchExists(bytes32 batchId);
    /// @dev No batch has this id.
    error BatchRegistryUnknownBatch(bytes32 batchId);
    /// @dev The event does not extend the batch's current head.
    error BatchRegistryHeadMismatch(bytes32 batchId, bytes32 expected, bytes32 given);
    /// @dev The batch is recalled and can no longer move.
    error BatchRegistryBatchRecalled(bytes32 batchId);
    /// @dev The batch's status does not allow the action.
    error BatchRegistryInvalidStatus(bytes32 batchId, Status status);
    /// @dev The signer's participant is not the batch's custodian.
    error BatchRegistryNotCustodian(bytes32 batchId, address signer);
    /// @dev The receiver is not the current key of an active participant that can hold custody,
    /// or it is the custodian itself.
    error BatchRegistryInvalidReceiver(address receiver);
    /// @dev The signer's participant is not the receiver the batch was shipped to.
    error BatchRegistryNotReceiver(bytes32 batchId, address signer);
    /// @dev The signer is neither the batch's producer nor a REGULATOR.
    error BatchRegistryNotRecaller(bytes32 batchId, address signer);
    /// @dev The identifier supplied for new batch `batchId` does not hash to it, or its prefix
    /// split breaks its kind's rule (see {Identifiers-split}).
    error BatchRegistryInvalidIdentifierProof(bytes32 batchId);
    /// @dev The signer's participant holds no licence of the prefix of new batch `batchId`'s identifier.
    error BatchRegistryUnlicensedIdentifier(bytes32 batchId, uint32 participant);
    /// @dev The signer's licence of the prefix is not valid at this block (not yet, expired or revoked).
    error BatchRegistryLicenceNotValid(bytes32 batchId, uint48 validFrom, uint48 validUntil);
    /// @dev A batch from outside the network names an identifier under a prefix another
    /// participant holds: its brand owner is in the network and creates its lots itself.
    error BatchRegistryLicensedElsewhere(bytes32 batchId, uint32 holder);
    /// @dev A RECEIVE with no previous event adopts a batch from outside the network, but the
    /// network holds batch `batchId` (with `status`): it is received from its custodian's
    /// shipment, never adopted.
    error BatchRegistryBatchInNetwork(bytes32 batchId, Status status);
    /// @dev New batch `batchId`'s identifier is neither GS1 nor a handle, and the signer's node
    /// may not create such batches.
    error BatchRegistryOpenIdentifierRefused(bytes32 batchId);
    /// @dev More events in one call than {MAX_EVENTS_PER_CALL}.
    error BatchRegistryTooManyEvents(uint256 count);

    /// @notice Emitted for every accepted event, with the signer's key and the nonce it used.
    event EventAccepted(bytes32 indexed eventHash, address indexed signer, uint32 indexed participant, uint256 nonce);
    /// @notice A relayed event was skipped; `reason` is the ABI-encoded custom error.
    event EventRejected(uint256 indexed index, bytes32 indexed eventHash, bytes reason);
    /// @notice A batch was created by `producer`.
    event BatchCommissioned(bytes32 indexed batchId, bytes32 indexed eventHash, bytes32 product, uint256 quantity);
    /// @notice The batch was created under its node's policy for identifiers that are neither GS1
    /// nor handles: no licence names its brand owner.
    event BatchIdentifierOpen(bytes32 indexed batchId);
    /// @notice Custodian `from` shipped the batch to participant `to`.
    event BatchShipped(bytes32 indexed batchId, bytes32 indexed eventHash, uint32 from, uint32 to);
    /// @notice The named receiver took custody of the batch.
    event BatchReceived(bytes32 indexed batchId, bytes32 indexed eventHash, uint32 custodian);
    /// @notice `inputs` were consumed to create `outputs`, whose producer is the transforming participant.
    event BatchTransformed(
        bytes32 indexed eventHash, bytes32[] inputs, bytes32[] outputs, bytes32 product, uint256 quantity
    );
    /// @notice The batch was recalled; it never moves again.
    event BatchRecalled(bytes32 indexed batchId, bytes32 indexed eventHash);
    /// @notice The batch was destroyed by its custodian.
    event BatchDestroyed(bytes32 indexed batchId, bytes32 indexed eventHash);
    /// @notice Custodian `from` shipped the batch to a party outside the network.
    event BatchExported(bytes32 indexed batchId, bytes32 indexed eventHash, uint32 from);
    /// @notice `custodian` received a batch from outside the network: one never seen in it
    /// (`returning` false: its producer is unknown, 0) or one exported earlier (`returning`
    /// true); what happened to it outside is not recorded here.
    event BatchAdopted(bytes32 indexed batchId, bytes32 indexed eventHash, uint32 custodian, bool returning);

    /// @notice Executes one signed event, reverting with the reason when it is invalid.
    /// Anyone may submit: the signature, not the sender, says who acts.
    /// Requirements: every rule of the event's action (see {TraceEvent}).
    /// Emits: {EventAccepted} and the action's event.
    function submit(SignedEvent calldata signed) external returns (bytes32 eventHash);

    /// @notice Executes many signed events in order; an invalid one is skipped with {EventRejected}
    /// and does not affect the others.
    /// Requirements: caller has NODE_ROLE; at most {MAX_EVENTS_PER_CALL} events.
    /// Emits: for each event {EventAccepted} and the action's event, or {EventRejected}.
    function relay(SignedEvent[] calldata events) external returns (uint256 accepted);

    /// @notice {relay}, then anchors the Merkle root of the caller's window of events in the
    /// {IAnchorRegistry}, all in one transaction.
    /// Requirements: as {relay} and {IAnchorRegistry-anchorFor}.
    /// Emits: as {relay}, and {IAnchorRegistry-RootAnchored}.
    function commit(SignedEvent[] calldata events, bytes32 root, uint64 firstSeq, uint32 eventCount)
        external
        returns (uint256 accepted);

    /// @notice The event hash (EIP-712 digest) of `ev`.
    function hashEvent(TraceEvent calldata ev) external view returns (bytes32);

    /// @notice The batch `batchId` (all zero when it does not exist).
    function batch(bytes32 batchId) external view returns (Batch memory);

    /// @notice Whether `signer` has used `nonce`.
    function isNonceUsed(address signer, uint256 nonce) external view returns (bool);
}
