export * from './base';
export * from './amount-entry';
export * from './digit-entry';
export * from './menu';
export * from './pager';
