// The signature checks the auth rules delegate (restricted joins' authorising server, third party invites), for
// received events. The auth rules are synchronous, so the keys of the servers they may ask about are fetched first.
import type { AuthVerifier } from '../../protocol/authRules.ts';
import type { JsonObject } from '../../protocol/json.ts';
import { checkEventSignedBy } from '../../protocol/pdu.ts';
import type { RoomVersion } from '../../protocol/roomVersions.ts';
import { checkJsonSignature, listSignatures, verifyKeyFromBase64, type ServerVerifyKeys } from '../../protocol/signing.ts';

export function inboundAuthVerifier(version: RoomVersion, keys: ReadonlyMap<string, ServerVerifyKeys>): AuthVerifier {
  return {
    isSignedBy(event, serverName) {
      const serverKeys = keys.get(serverName);
      if (!serverKeys || !event.pdu) return false;
      return checkEventSignedBy(event.pdu, version, serverName, serverKeys).ok;
    },
    verifyThirdPartyInvite(signed: JsonObject, publicKeys: readonly string[]) {
      for (const [entity, keyId] of listSignatures(signed)) {
        for (const publicKey of publicKeys) {
          let key;
          try {
            key = verifyKeyFromBase64(publicKey);
          } catch {
            continue;
          }
          if (checkJsonSignature(signed, entity, new Map([[keyId, { key }]])).ok) return true;
        }
      }
      return false;
    },
  };
}
