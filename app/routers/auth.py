"""Login, token refresh and logout (the only paths that need no bearer token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from app.domain import errors
from app.routers.deps import UoW
from app.routers.problems import responses
from app.routers.schemas.org import RefreshRequest, TokenPairRead
from app.services import auth as auth_service

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    operation_id="auth_token",
    response_model=TokenPairRead,
    responses=responses(errors.InvalidCredentials, errors.TooManyAttempts, authenticated=False),
)
async def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], uow: UoW, request: Request
) -> TokenPairRead:
    """Log in with username and password (OAuth2 password form). Failures are throttled per
    client address and username: after a few, that pair waits (429 with Retry-After)."""
    client_address = request.client.host if request.client else "unknown"
    pair = await auth_service.login(
        uow, username=form.username, password=form.password, client_address=client_address
    )
    return TokenPairRead.model_validate(pair, from_attributes=True)


@router.post(
    "/refresh",
    operation_id="auth_refresh",
    response_model=TokenPairRead,
    responses=responses(
        errors.InvalidRefreshToken, errors.RefreshTokenReused, errors.InactiveUser, authenticated=False
    ),
)
async def refresh_token(body: RefreshRequest, uow: UoW) -> TokenPairRead:
    """Trade a refresh token for a new pair; the old refresh token stops working."""
    pair = await auth_service.refresh(uow, refresh_token=body.refresh_token)
    return TokenPairRead.model_validate(pair, from_attributes=True)


@router.post(
    "/logout",
    operation_id="auth_logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(authenticated=False),
)
async def logout(body: RefreshRequest, uow: UoW) -> None:
    """Revoke the refresh token (and every token rotated from the same login)."""
    await auth_service.logout(uow, refresh_token=body.refresh_token)
