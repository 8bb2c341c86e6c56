/**
 * The host protocol profile AS DATA: the ISO 8583 field table and the message definitions of
 * the default "cup" profile (docs/PROTOCOL.md). The packager and the message
 * builders read only this table, so an acquirer with other details supplies its own
 * `HostProfile` (e.g. `{ ...CUP_PROFILE, tpdu: ..., fields: ... }`) instead of new code.
 */

/** Fixed-length formats. `an` also covers `ans`: ASCII, right-padded with spaces. */
export type FixedFormat =
  | { readonly kind: 'n'; readonly digits: number }
  | { readonly kind: 'an'; readonly chars: number }
  | { readonly kind: 'b'; readonly bytes: number };

/**
 * What a variable-length field holds; its length prefix counts digits (numeric), characters
 * (track), or bytes (binary, ascii).
 */
export type VarContent = 'numeric' | 'track' | 'binary' | 'ascii';

/** LLVAR: 1 byte BCD length (00-99). LLLVAR: 2 bytes BCD length (0000-0999). */
export interface VarFormat {
  readonly kind: 'var';
  readonly prefix: 'LL' | 'LLL';
  readonly content: VarContent;
  /** In the unit the prefix counts (digits, characters or bytes, see VarContent). */
  readonly lengthMax: number;
}

export type FieldFormat = FixedFormat | VarFormat;

export interface FieldDef {
  readonly number: number;
  readonly name: string;
  readonly format: FieldFormat;
}

/** Binary fields carry a Buffer; every other format carries a string. */
export function isBinaryField(def: FieldDef): boolean {
  const f = def.format;
  return f.kind === 'b' || (f.kind === 'var' && f.content === 'binary');
}

/** The transactions of the profile. Each has one request MTI and one response MTI. */
export type RequestType =
  | 'signOn'
  | 'signOff'
  | 'sale'
  | 'void'
  | 'refund'
  | 'balance'
  | 'reversal'
  | 'settlement'
  | 'batchUploadRecord'
  | 'batchUploadEnd'
  | 'signatureUpload'
  // Version 2 additions (docs/PROTOCOL.md): network management (no MAC) ...
  | 'echo'
  | 'statusUpload'
  | 'paramDownload'
  | 'caKeyDownload'
  | 'caKeyDownloadEnd'
  | 'aidDownload'
  | 'aidDownloadEnd'
  // ... the pre-authorization family ...
  | 'preAuth'
  | 'preAuthVoid'
  | 'completion'
  | 'completionVoid'
  // ... offline sale advice, QR payments and the issuer script result notice.
  | 'offlineAdvice'
  | 'qrSale'
  | 'qrOrder'
  | 'qrQuery'
  | 'qrVoid'
  | 'qrRefund'
  | 'scriptNotice';

export const REQUEST_TYPES: readonly RequestType[] = [
  'signOn', 'signOff', 'sale', 'void', 'refund', 'balance', 'reversal', 'settlement',
  'batchUploadRecord', 'batchUploadEnd', 'signatureUpload',
  'echo', 'statusUpload', 'paramDownload', 'caKeyDownload', 'caKeyDownloadEnd', 'aidDownload', 'aidDownloadEnd',
  'preAuth', 'preAuthVoid', 'completion', 'completionVoid',
  'offlineAdvice', 'qrSale', 'qrOrder', 'qrQuery', 'qrVoid', 'qrRefund', 'scriptNotice',
];

/** Version 2 messages a host that does not know them answers 12 or 40: the feature is hidden until the next sign-on. */
export const FEATURE_UNKNOWN_CODES: readonly string[] = ['12', '40'];

/** POS entry mode (22) of a QR payment: 032 the terminal scanned the customer's code, 033 the customer scanned the terminal's. */
export type QrEntryMode = '032' | '033';
export const QR_ENTRY_MODES: readonly QrEntryMode[] = ['032', '033'];

export interface MessageDef {
  readonly type: RequestType;
  readonly mti: string;
  readonly responseMti: string;
  /** Field 3; undefined when the message has none or it is "as original" (reversal). */
  readonly processingCode?: string;
  /** 60.1 message type code; undefined = as original (reversal). */
  readonly type60?: string;
  /** 60.3 network management information code; undefined = as original (reversal). */
  readonly networkCode60?: string;
  /** Fields every request carries (64 excluded: see `mac`). */
  readonly requestRequired: readonly number[];
  /** Fields a request carries "when present for the card or entry mode". */
  readonly requestOptional: readonly number[];
  /** Fields every response must carry (64 excluded: see `mac`). */
  readonly responseRequired: readonly number[];
  /** Fields a response must carry when 39 = 00. */
  readonly responseRequiredWhenApproved: readonly number[];
  /** The request carries a MAC (64), so the response must carry one that verifies. */
  readonly mac: boolean;
  /** A financial message moves money: the host's answer carries 12 13 37. */
  readonly financial: boolean;
  /**
   * Field 22 values this message is sent with, when it is told apart from another message with
   * the same MTI, field 3 and 60 only by them (the QR payments, entry modes 032/033). A message
   * without the list is never sent with a QR entry mode.
   */
  readonly entryModes?: readonly string[];
}

export interface Tpdu {
  /** 0x60 in this profile. */
  readonly id: number;
  readonly destination: number;
  readonly source: number;
}

export interface HostProfile {
  readonly name: string;
  readonly fields: ReadonlyMap<number, FieldDef>;
  readonly messages: Readonly<Record<RequestType, MessageDef>>;
  /** The terminal's TPDU; the host answers with destination and source swapped. */
  readonly tpdu: Tpdu;
  /** 6 bytes after the TPDU. */
  readonly header: Buffer;
  /**
   * How many leading header bytes a received frame must match. CUP-style headers carry the
   * terminal status and a "processing requirement" nibble after the application type and
   * version, which a host may set; those are passed up, not rejected.
   */
  readonly headerMatchBytes: number;
  /** Whole frame, length prefix included; checked before the body is read. */
  readonly frameLengthBytesMax: number;
  /** Field 49. */
  readonly currencyCode: string;
  /** Field 53: PIN block ANSI X9.8 with PAN, double-length key, no track encryption. */
  readonly securityControl: string;
  /** Field 26 (PIN capture code) sent with a PIN block: the longest PIN the PIN pad takes. */
  readonly pinCaptureCode: string;
}

function n(number: number, name: string, digits: number): FieldDef {
  return { number, name, format: { kind: 'n', digits } };
}
function an(number: number, name: string, chars: number): FieldDef {
  return { number, name, format: { kind: 'an', chars } };
}
function b(number: number, name: string, bytes: number): FieldDef {
  return { number, name, format: { kind: 'b', bytes } };
}
function v(number: number, name: string, prefix: 'LL' | 'LLL', content: VarContent, lengthMax: number): FieldDef {
  return { number, name, format: { kind: 'var', prefix, content, lengthMax } };
}

/** The field table of docs/PROTOCOL.md, in field order. */
export const CUP_FIELDS: readonly FieldDef[] = [
  v(2, 'primary account number', 'LL', 'numeric', 19),
  n(3, 'processing code', 6),
  n(4, 'amount (fen)', 12),
  n(11, 'system trace audit number', 6),
  n(12, 'local time hhmmss', 6),
  n(13, 'local date MMDD', 4),
  n(14, 'card expiry YYMM', 4),
  n(15, 'settlement date MMDD', 4),
  n(22, 'POS entry mode', 3),
  n(23, 'card sequence number', 3),
  n(25, 'POS condition code', 2),
  n(26, 'PIN capture code', 2),
  v(32, 'acquirer institution id', 'LL', 'numeric', 11),
  v(35, 'track 2', 'LL', 'track', 37),
  v(36, 'track 3', 'LLL', 'track', 104),
  an(37, 'retrieval reference number', 12),
  an(38, 'authorization code', 6),
  an(39, 'response code', 2),
  an(41, 'terminal id', 8),
  an(42, 'merchant id', 15),
  v(44, 'additional response data', 'LL', 'ascii', 25),
  v(48, 'additional data (settlement totals)', 'LLL', 'numeric', 322),
  an(49, 'currency code', 3),
  b(52, 'PIN block', 8),
  n(53, 'security control information', 16),
  // Not in the written profile's table: CUP hosts answer a balance inquiry in 54 (additional
  // amounts). Accepted on receive only, so a host that follows the profile is unaffected.
  v(54, 'additional amounts (balance)', 'LLL', 'ascii', 40),
  v(55, 'IC card data', 'LLL', 'binary', 255),
  v(59, 'QR payment data (tag, 3-digit length, value)', 'LLL', 'ascii', 600),
  v(60, 'reserved private (type, batch, network code)', 'LLL', 'numeric', 17),
  v(61, 'original transaction', 'LLL', 'numeric', 29),
  v(62, 'reserved private (working keys; signature image)', 'LLL', 'binary', 999),
  v(63, 'reserved private (operator number)', 'LLL', 'ascii', 163),
  b(64, 'MAC', 8),
];

const ECHO = [11, 41, 42];
const ACK_RESPONSE = [...ECHO, 39];
const FIN_RESPONSE = [...ECHO, 12, 13, 37, 39];

function msg(def: Omit<MessageDef, 'responseMti'>): MessageDef {
  const responseMti = (parseInt(def.mti, 16) + 0x10).toString(16).padStart(4, '0');
  return { ...def, responseMti };
}

/** The message table of docs/PROTOCOL.md. 64 is implied by `mac`. */
export const CUP_MESSAGES: Readonly<Record<RequestType, MessageDef>> = {
  signOn: msg({
    type: 'signOn', mti: '0800', type60: '00', networkCode60: '004',
    requestRequired: [11, 41, 42, 60, 63], requestOptional: [],
    responseRequired: ACK_RESPONSE, responseRequiredWhenApproved: [62], mac: false, financial: false,
  }),
  signOff: msg({
    type: 'signOff', mti: '0820', type60: '00', networkCode60: '002',
    requestRequired: [11, 41, 42, 60], requestOptional: [],
    responseRequired: ACK_RESPONSE, responseRequiredWhenApproved: [], mac: false, financial: false,
  }),
  sale: msg({
    type: 'sale', mti: '0200', processingCode: '000000', type60: '22', networkCode60: '000',
    requestRequired: [2, 3, 4, 11, 14, 22, 25, 41, 42, 49, 53, 60], requestOptional: [23, 26, 35, 36, 52, 55],
    responseRequired: FIN_RESPONSE, responseRequiredWhenApproved: [38], mac: true, financial: true,
  }),
  void: msg({
    type: 'void', mti: '0200', processingCode: '200000', type60: '23', networkCode60: '000',
    requestRequired: [2, 3, 4, 11, 22, 25, 37, 38, 41, 42, 49, 60, 61], requestOptional: [],
    responseRequired: FIN_RESPONSE, responseRequiredWhenApproved: [38], mac: true, financial: true,
  }),
  refund: msg({
    type: 'refund', mti: '0220', processingCode: '200000', type60: '25', networkCode60: '000',
    requestRequired: [2, 3, 4, 11, 22, 25, 37, 41, 42, 49, 60, 61], requestOptional: [],
    responseRequired: FIN_RESPONSE, responseRequiredWhenApproved: [38], mac: true, financial: true,
  }),
  balance: msg({
    type: 'balance', mti: '0200', processingCode: '310000', type60: '01', networkCode60: '000',
    requestRequired: [2, 3, 11, 22, 25, 26, 41, 42, 49, 52, 53, 60], requestOptional: [35],
    responseRequired: FIN_RESPONSE, responseRequiredWhenApproved: [], mac: true, financial: true,
  }),
  reversal: msg({
    type: 'reversal', mti: '0400',
    // 4 is optional only for a balance inquiry's reversal (its original has none).
    requestRequired: [2, 3, 11, 22, 25, 39, 41, 42, 49, 60], requestOptional: [4, 14, 23, 38, 55, 61],
    responseRequired: ACK_RESPONSE, responseRequiredWhenApproved: [], mac: true, financial: false,
  }),
  settlement: msg({
    type: 'settlement', mti: '0500', type60: '00', networkCode60: '201',
    requestRequired: [11, 41, 42, 48, 49, 60, 63], requestOptional: [],
    responseRequired: ACK_RESPONSE, responseRequiredWhenApproved: [48], mac: false, financial: false,
  }),
  batchUploadRecord: msg({
    type: 'batchUploadRecord', mti: '0320', type60: '00', networkCode60: '201',
    requestRequired: [2, 3, 4, 11, 22, 37, 38, 41, 42, 60], requestOptional: [],
    responseRequired: ACK_RESPONSE, responseRequiredWhenApproved: [], mac: false, financial: false,
  }),
  batchUploadEnd: msg({
    type: 'batchUploadEnd', mti: '0320', type60: '00', networkCode60: '207',
    requestRequired: [11, 41, 42, 48, 60], requestOptional: [],
    responseRequired: ACK_RESPONSE, responseRequiredWhenApproved: [], mac: false, financial: false,
  }),
  signatureUpload: msg({
    type: 'signatureUpload', mti: '0820', type60: '07', networkCode60: '800',
    requestRequired: [11, 15, 37, 41, 42, 60, 62], requestOptional: [],
    responseRequired: ACK_RESPONSE, responseRequiredWhenApproved: [], mac: false, financial: false,
  }),
  // ---- Version 2: network management, no MAC
  echo: msg({
    type: 'echo', mti: '0820', type60: '00', networkCode60: '301',
    requestRequired: [11, 41, 42, 60], requestOptional: [],
    responseRequired: ACK_RESPONSE, responseRequiredWhenApproved: [], mac: false, financial: false,
  }),
  statusUpload: msg({
    type: 'statusUpload', mti: '0820', type60: '00', networkCode60: '362',
    requestRequired: [11, 41, 42, 60, 62], requestOptional: [],
    responseRequired: ACK_RESPONSE, responseRequiredWhenApproved: [], mac: false, financial: false,
  }),
  paramDownload: msg({
    type: 'paramDownload', mti: '0800', type60: '00', networkCode60: '360',
    requestRequired: [11, 41, 42, 60], requestOptional: [],
    responseRequired: ACK_RESPONSE, responseRequiredWhenApproved: [62], mac: false, financial: false,
  }),
  caKeyDownload: msg({
    type: 'caKeyDownload', mti: '0800', type60: '00', networkCode60: '370',
    requestRequired: [11, 41, 42, 60], requestOptional: [62],
    responseRequired: ACK_RESPONSE, responseRequiredWhenApproved: [62], mac: false, financial: false,
  }),
  caKeyDownloadEnd: msg({
    type: 'caKeyDownloadEnd', mti: '0800', type60: '00', networkCode60: '371',
    requestRequired: [11, 41, 42, 60], requestOptional: [],
    responseRequired: ACK_RESPONSE, responseRequiredWhenApproved: [], mac: false, financial: false,
  }),
  aidDownload: msg({
    type: 'aidDownload', mti: '0800', type60: '00', networkCode60: '380',
    requestRequired: [11, 41, 42, 60], requestOptional: [62],
    responseRequired: ACK_RESPONSE, responseRequiredWhenApproved: [62], mac: false, financial: false,
  }),
  aidDownloadEnd: msg({
    type: 'aidDownloadEnd', mti: '0800', type60: '00', networkCode60: '381',
    requestRequired: [11, 41, 42, 60], requestOptional: [],
    responseRequired: ACK_RESPONSE, responseRequiredWhenApproved: [], mac: false, financial: false,
  }),
  // ---- Version 2: the pre-authorization family (financial, MAC, reversible)
  preAuth: msg({
    type: 'preAuth', mti: '0100', processingCode: '030000', type60: '10', networkCode60: '000',
    requestRequired: [2, 3, 4, 11, 14, 22, 25, 41, 42, 49, 53, 60], requestOptional: [23, 26, 35, 36, 52, 55],
    responseRequired: FIN_RESPONSE, responseRequiredWhenApproved: [38], mac: true, financial: true,
  }),
  preAuthVoid: msg({
    type: 'preAuthVoid', mti: '0100', processingCode: '200000', type60: '11', networkCode60: '000',
    requestRequired: [2, 3, 4, 11, 22, 25, 38, 41, 42, 49, 60, 61], requestOptional: [14, 23, 26, 35, 36, 52, 53, 55],
    responseRequired: FIN_RESPONSE, responseRequiredWhenApproved: [38], mac: true, financial: true,
  }),
  completion: msg({
    type: 'completion', mti: '0200', processingCode: '000000', type60: '20', networkCode60: '000',
    requestRequired: [2, 3, 4, 11, 22, 25, 38, 41, 42, 49, 60, 61], requestOptional: [14],
    responseRequired: FIN_RESPONSE, responseRequiredWhenApproved: [38], mac: true, financial: true,
  }),
  completionVoid: msg({
    type: 'completionVoid', mti: '0200', processingCode: '200000', type60: '21', networkCode60: '000',
    requestRequired: [2, 3, 4, 11, 22, 25, 37, 38, 41, 42, 49, 60, 61], requestOptional: [],
    responseRequired: FIN_RESPONSE, responseRequiredWhenApproved: [38], mac: true, financial: true,
  }),
  // ---- Version 2: offline sale advice (store-and-forward; never reversed)
  offlineAdvice: msg({
    type: 'offlineAdvice', mti: '0220', processingCode: '000000', type60: '30', networkCode60: '000',
    requestRequired: [2, 3, 4, 11, 14, 22, 25, 38, 41, 42, 49, 53, 60], requestOptional: [23, 35, 36, 55],
    responseRequired: FIN_RESPONSE, responseRequiredWhenApproved: [], mac: true, financial: true,
  }),
  // ---- Version 2: QR payments (field 59, no card fields). A P1 answer carries no 38, so 38 is not required.
  qrSale: msg({
    type: 'qrSale', mti: '0200', processingCode: '000000', type60: '22', networkCode60: '000', entryModes: ['032'],
    requestRequired: [3, 4, 11, 22, 25, 41, 42, 49, 59, 60], requestOptional: [],
    responseRequired: FIN_RESPONSE, responseRequiredWhenApproved: [59], mac: true, financial: true,
  }),
  qrOrder: msg({
    type: 'qrOrder', mti: '0200', processingCode: '000000', type60: '22', networkCode60: '000', entryModes: ['033'],
    requestRequired: [3, 4, 11, 22, 25, 41, 42, 49, 59, 60], requestOptional: [],
    responseRequired: FIN_RESPONSE, responseRequiredWhenApproved: [59], mac: true, financial: true,
  }),
  qrQuery: msg({
    type: 'qrQuery', mti: '0200', processingCode: '300000', type60: '22', networkCode60: '000', entryModes: ['032', '033'],
    requestRequired: [3, 4, 11, 22, 25, 41, 42, 49, 59, 60, 61], requestOptional: [],
    responseRequired: FIN_RESPONSE, responseRequiredWhenApproved: [59], mac: true, financial: true,
  }),
  qrVoid: msg({
    type: 'qrVoid', mti: '0200', processingCode: '200000', type60: '23', networkCode60: '000', entryModes: ['032', '033'],
    requestRequired: [3, 4, 11, 22, 25, 37, 41, 42, 49, 59, 60, 61], requestOptional: [],
    responseRequired: FIN_RESPONSE, responseRequiredWhenApproved: [59], mac: true, financial: true,
  }),
  qrRefund: msg({
    type: 'qrRefund', mti: '0220', processingCode: '200000', type60: '25', networkCode60: '000', entryModes: ['032', '033'],
    requestRequired: [3, 4, 11, 22, 25, 37, 41, 42, 49, 59, 60, 61], requestOptional: [],
    responseRequired: FIN_RESPONSE, responseRequiredWhenApproved: [59], mac: true, financial: true,
  }),
  // ---- Version 2: issuer script result notice (chip cards), durably pending like a reversal
  scriptNotice: msg({
    type: 'scriptNotice', mti: '0620', type60: '00', networkCode60: '951',
    requestRequired: [2, 3, 4, 11, 22, 37, 41, 42, 49, 55, 60, 61], requestOptional: [23],
    responseRequired: ACK_RESPONSE, responseRequiredWhenApproved: [], mac: true, financial: false,
  }),
};

/** Frame size limit: every profile field at its maximum stays well under this. */
export const FRAME_LENGTH_BYTES_MAX = 2048;

export const CUP_PROFILE: HostProfile = {
  name: 'cup',
  fields: new Map(CUP_FIELDS.map((f) => [f.number, f])),
  messages: CUP_MESSAGES,
  tpdu: { id: 0x60, destination: 0x0003, source: 0x0000 },
  header: Buffer.from([0x60, 0x31, 0x00, 0x00, 0x00, 0x00]),
  headerMatchBytes: 2,
  frameLengthBytesMax: FRAME_LENGTH_BYTES_MAX,
  currencyCode: '156',
  securityControl: '2600000000000000',
  pinCaptureCode: '12',
};

/**
 * Which request type a request message is, from MTI, field 3, 60.1/60.3 and, for the QR
 * payments, field 22 (the simulator needs this; the terminal knows what it built). Undefined
 * when nothing matches.
 */
export function classifyRequest(profile: HostProfile, mti: string, processingCode: string | undefined, field60: string | undefined, entryMode: string | undefined): RequestType | undefined {
  const type60 = field60?.slice(0, 2);
  const network60 = field60?.slice(8, 11);
  const qr = entryMode !== undefined && (QR_ENTRY_MODES as readonly string[]).includes(entryMode);
  for (const def of Object.values(profile.messages)) {
    if (def.mti !== mti) continue;
    if (def.type === 'reversal') return def.type;
    if (def.entryModes !== undefined ? !(qr && def.entryModes.includes(entryMode as string)) : qr) continue;
    if (def.processingCode !== undefined && def.processingCode !== processingCode) continue;
    if (def.type60 !== undefined && def.type60 !== type60) continue;
    if (def.networkCode60 !== undefined && def.processingCode === undefined && def.networkCode60 !== network60) continue;
    return def.type;
  }
  return undefined;
}
