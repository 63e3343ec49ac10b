// The one problem+json helper lives in shared/http so the evaluate Worker answers the same shape.
export * from '../../shared/http/problem';
